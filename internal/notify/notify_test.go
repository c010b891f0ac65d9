package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestSendRetriesAndDeliversAStructuredCloudEvent(t *testing.T) {
	g := NewWithT(t)
	var mu sync.Mutex
	var bodies []map[string]any
	var contentType string
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		bodies = append(bodies, m)
		contentType = r.Header.Get("Content-Type")
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	s := NewSink(srv.URL)
	s.Backoff = time.Millisecond
	at := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	err := s.Send(context.Background(), RotationDueType, Warning{KeyID: "abc", Owner: "15a6", Namespace: "ns", Name: "k", At: at, Message: "rotates soon"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(calls).To(Equal(3))
	g.Expect(contentType).To(HavePrefix("application/cloudevents+json"))
	g.Expect(bodies).To(HaveLen(1))
	g.Expect(bodies[0]).To(HaveKeyWithValue("specversion", "1.0"))
	g.Expect(bodies[0]).To(HaveKeyWithValue("type", RotationDueType))
	g.Expect(bodies[0]).To(HaveKeyWithValue("subject", "15a6/abc"))
	g.Expect(bodies[0]["data"]).To(HaveKeyWithValue("at", "2027-01-01T00:00:00Z"))
}

func TestSendGivesUpAfterItsAttempts(t *testing.T) {
	g := NewWithT(t)
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	s := NewSink(srv.URL)
	s.Backoff = time.Millisecond
	err := s.Send(context.Background(), ExpiryDueType, Warning{KeyID: "abc"})
	g.Expect(err).To(MatchError(ContainSubstring("500")))
	g.Expect(calls).To(Equal(3))
}

// A warning sent again under its EventID is, to a CloudEvents consumer,
// the same event; without one, every sending is a new event.
func TestAnEventIDMakesARepeatTheSameEvent(t *testing.T) {
	g := NewWithT(t)
	var mu sync.Mutex
	var ids []any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var m map[string]any
		b, _ := io.ReadAll(r.Body)
		g.Expect(json.Unmarshal(b, &m)).To(Succeed())
		g.Expect(string(b)).NotTo(ContainSubstring("EventID"))
		ids = append(ids, m["id"])
	}))
	defer srv.Close()
	s := NewSink(srv.URL)
	w := Warning{KeyID: "abc", Owner: "15a6", Detector: "Volume", Reason: "VolumeSpike", Action: "Alert", EventID: "anomaly-feedfacecafebeef"}
	for range 2 {
		g.Expect(s.Send(context.Background(), AnomalousType, w)).To(Succeed())
	}
	w.EventID = ""
	for range 2 {
		g.Expect(s.Send(context.Background(), AnomalousType, w)).To(Succeed())
	}
	g.Expect(ids[0]).To(Equal("anomaly-feedfacecafebeef"))
	g.Expect(ids[1]).To(Equal(ids[0]))
	g.Expect(ids[2]).NotTo(Equal(ids[3]))
}
