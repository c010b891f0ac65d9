// Package logging keeps keyward's logs free of secret material whatever
// verbosity an operator asks for.
package logging

import "github.com/go-logr/logr"

// MaxVerbosity is the highest V-level keyward ever emits. client-go takes
// its logger from the request context and, from V(8) on, prints request and
// response bodies; those bodies include delivery Secrets, which hold
// plaintext keys. No flag can lift this cap.
const MaxVerbosity = 5

// Cap returns a logger that drops every message above MaxVerbosity.
func Cap(l logr.Logger) logr.Logger {
	if l.GetSink() == nil {
		return l
	}
	return logr.New(cappedSink{l.GetSink()})
}

type cappedSink struct{ logr.LogSink }

func (s cappedSink) Enabled(level int) bool {
	return level <= MaxVerbosity && s.LogSink.Enabled(level)
}

func (s cappedSink) Info(level int, msg string, kv ...any) {
	if level <= MaxVerbosity {
		s.LogSink.Info(level, msg, kv...)
	}
}

func (s cappedSink) WithValues(kv ...any) logr.LogSink {
	return cappedSink{s.LogSink.WithValues(kv...)}
}

func (s cappedSink) WithName(name string) logr.LogSink { return cappedSink{s.LogSink.WithName(name)} }

// WithCallDepth keeps caller information pointing at the real call site.
func (s cappedSink) WithCallDepth(depth int) logr.LogSink {
	if d, ok := s.LogSink.(logr.CallDepthLogSink); ok {
		return cappedSink{d.WithCallDepth(depth + 1)}
	}
	return s
}
