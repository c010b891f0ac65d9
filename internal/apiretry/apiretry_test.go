package apiretry

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// refusing refuses its first connections, as an API server that is down,
// then answers.
type refusing struct{ refusals, calls atomic.Int32 }

func (r *refusing) RoundTrip(*http.Request) (*http.Response, error) {
	if r.calls.Add(1) <= r.refusals.Load() {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	}
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

func TestAReadWaitsForTheAPIServer(t *testing.T) {
	g := NewWithT(t)
	next := &refusing{}
	next.refusals.Store(2)
	req, err := http.NewRequest(http.MethodGet, "http://api.example/api/v1/secrets", nil)
	g.Expect(err).NotTo(HaveOccurred())
	resp, err := Wrap(next).RoundTrip(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(next.calls.Load()).To(Equal(int32(3)))
}

func TestAReadOfAnAPIServerThatIsDownEndsWithItsContext(t *testing.T) {
	g := NewWithT(t)
	// A port nobody listens on: every dial is refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	g.Expect(l.Close()).To(Succeed())
	ctx, cancel := context.WithTimeout(context.Background(), 2*Interval+Interval/2)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api", nil)
	g.Expect(err).NotTo(HaveOccurred())
	start := time.Now()
	resp, err := (&http.Client{Transport: Wrap(http.DefaultTransport)}).Do(req)
	if resp != nil {
		resp.Body.Close()
	}
	g.Expect(err).To(MatchError(ContainSubstring("connection refused")))
	g.Expect(time.Since(start)).To(BeNumerically(">=", 2*Interval), "tried again while the context allowed")
}

func TestWritesAndAnswersPassAsTheyAre(t *testing.T) {
	g := NewWithT(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		http.Error(w, "the aggregated API is down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := &http.Client{Transport: Wrap(http.DefaultTransport)}
	resp, err := c.Get(srv.URL)
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable), "an answer is not an outage")

	next := &refusing{}
	next.refusals.Store(1)
	req, err := http.NewRequest(http.MethodPost, "http://api.example/api/v1/secrets", strings.NewReader("{}"))
	g.Expect(err).NotTo(HaveOccurred())
	resp, err = Wrap(next).RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
	}
	g.Expect(err).To(MatchError(ContainSubstring("connection refused")), "a write is never sent twice")
	g.Expect(calls.Load()).To(Equal(int32(1)))
	g.Expect(next.calls.Load()).To(Equal(int32(1)))
}
