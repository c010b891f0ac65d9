package testutil

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
)

// EventSink is a CloudEvents receiver on loopback, standing in for the
// notification sink a platform team would configure.
type EventSink struct {
	mu       sync.Mutex
	received []map[string]any
	failNext int
}

// SetFailNext makes the sink refuse the next n posts with 503.
func (s *EventSink) SetFailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// FailNext is how many posts the sink still refuses.
func (s *EventSink) FailNext() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failNext
}

// Start serves the sink until the process ends and returns its URL.
func (s *EventSink) Start() string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.failNext > 0 {
			s.failNext--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var ev map[string]any
		if json.Unmarshal(body, &ev) == nil {
			ev["_raw"] = string(body)
			s.received = append(s.received, ev)
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	return srv.URL
}

// About returns the events whose subject names the key prefix.
func (s *EventSink) About(prefix string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, ev := range s.received {
		if ev["subject"] == prefix {
			out = append(out, ev)
		}
	}
	return out
}
