package main

import (
	"log"
	"strings"

	"github.com/go-logr/logr"
)

// httpErrorLog sends net/http's own messages to the verifier's log instead
// of stderr. Refused TLS handshakes (a client without the certificate a
// port asks for, one from another CA, a scanner) go at debug level, where
// a flood of them cannot bury the rest; everything else (a handler's
// panic) stays visible.
func httpErrorLog(l logr.Logger) *log.Logger {
	return log.New(httpLogWriter{l.WithName("http")}, "", 0)
}

type httpLogWriter struct{ l logr.Logger }

func (w httpLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		w.l.V(1).Info(msg)
	} else {
		w.l.Info(msg)
	}
	return len(p), nil
}
