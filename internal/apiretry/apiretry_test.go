package apiretry

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestAReadWaitsForTheAPIServer(t *testing.T) {
	g := NewWithT(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	resp, err := (&http.Client{Transport: Wrap(http.DefaultTransport)}).Get(srv.URL)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(calls.Load()).To(Equal(int32(3)))
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
	_, err = (&http.Client{Transport: Wrap(http.DefaultTransport)}).Do(req)
	g.Expect(err).To(MatchError(ContainSubstring("connection refused")))
	g.Expect(time.Since(start)).To(BeNumerically(">=", 2*Interval), "tried again while the context allowed")
}

func TestWritesAndOtherAnswersPassAsTheyAre(t *testing.T) {
	g := NewWithT(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method == http.MethodGet {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := &http.Client{Transport: Wrap(http.DefaultTransport)}
	resp, err := c.Post(srv.URL, "application/json", strings.NewReader("{}"))
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable), "a write is never sent twice")
	resp, err = c.Get(srv.URL)
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusForbidden))
	g.Expect(calls.Load()).To(Equal(int32(2)))
}
