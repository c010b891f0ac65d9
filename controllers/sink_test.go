package controllers

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
)

// eventSink is a CloudEvents receiver on loopback, standing in for the
// notification sink a platform team would configure.
type eventSink struct {
	mu       sync.Mutex
	received []map[string]any
	failNext int
}

func (s *eventSink) start() string {
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

// about returns the events whose subject names the key prefix.
func (s *eventSink) about(prefix string) []map[string]any {
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
