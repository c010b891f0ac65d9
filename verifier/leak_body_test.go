package verifier

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// watchedBody counts the reads of a request body and, when gate is set,
// blocks each read until gate is closed: a client sending slowly.
type watchedBody struct {
	r     io.Reader
	reads atomic.Int64
	gate  chan struct{}
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.reads.Add(1)
	if b.gate != nil {
		<-b.gate
	}
	return b.r.Read(p)
}

// Attack: unsigned or wrongly identified bodies sent to the public port
// are refused before a byte of them is read.
func TestAttackLeakReportBodyIsNotReadBeforeItsHeadersAreChecked(t *testing.T) {
	lf := newLeakFixture(t, nil)
	for name, tc := range map[string]struct {
		headers map[string]string
		want    string
	}{
		"no headers":         {nil, HeaderGitHubKeyID + " header is missing"},
		"no signature":       {map[string]string{HeaderGitHubKeyID: "key-1"}, HeaderGitHubSignature + " header is missing"},
		"unknown identifier": {map[string]string{HeaderGitHubKeyID: "nobody", HeaderGitHubSignature: "AAAA"}, "names no key"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			body := &watchedBody{r: strings.NewReader(strings.Repeat("A", 200<<10))}
			req := httptest.NewRequest(http.MethodPost, GitHubLeaksPath, body)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec, _ := lf.send(req)
			g.Expect(rec.Code).To(Equal(http.StatusUnauthorized))
			g.Expect(rec.Body.String()).To(ContainSubstring(tc.want))
			g.Expect(body.reads.Load()).To(BeZero(), "the body was read before the headers were checked")
		})
	}
}

// Attack: the identifier of GitHub's key is public, so bodies with it are
// read; only a few at once, the others are asked to come back.
func TestAttackLeakReportBodiesInFlightAreBounded(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, nil)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	codes := make([]int, maxBodiesInFlight)
	var held []*watchedBody
	for i := range maxBodiesInFlight {
		body := &watchedBody{r: strings.NewReader("[]"), gate: gate}
		held = append(held, body)
		req := httptest.NewRequest(http.MethodPost, GitHubLeaksPath, body)
		req.Header.Set(HeaderGitHubKeyID, "key-1")
		req.Header.Set(HeaderGitHubSignature, lf.rep.Sign("key-1", []byte("[]")))
		wg.Go(func() {
			rec := httptest.NewRecorder()
			lf.public.ServeHTTP(rec, req)
			codes[i] = rec.Code
		})
	}
	g.Eventually(func(g Gomega) {
		for _, b := range held {
			g.Expect(b.reads.Load()).To(BeNumerically(">", 0))
		}
	}).Should(Succeed(), "every held body is being read")

	extra := &watchedBody{r: strings.NewReader("[]")}
	req := httptest.NewRequest(http.MethodPost, GitHubLeaksPath, extra)
	req.Header.Set(HeaderGitHubKeyID, "key-1")
	req.Header.Set(HeaderGitHubSignature, lf.rep.Sign("key-1", []byte("[]")))
	rec, _ := lf.send(req)
	g.Expect(rec.Code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(rec.Header().Get("Retry-After")).NotTo(BeEmpty())
	g.Expect(extra.reads.Load()).To(BeZero())

	close(gate)
	wg.Wait()
	g.Expect(codes).To(HaveEach(http.StatusOK))
	rec, _ = lf.send(signed(lf.rep, "key-1", []byte("[]")))
	g.Expect(rec.Code).To(Equal(http.StatusOK), "the slots are given back")
}

func TestLeakReportBodyDefaultBound(t *testing.T) {
	g := NewWithT(t)
	s, err := GitHubLeaksConfig{PublicKeysFile: "k"}.compile()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.maxBody).To(Equal(int64(256 << 10)))
}

// A replica whose records are not synced (or stale) must not label a real
// key false_positive: GitHub would not report it again.
func TestLeakReportToAReplicaNotInSyncIsRetried(t *testing.T) {
	for name, ready := range map[string]bool{"not ready": false, "stale": true} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			rep := testutil.NewLeakReporter()
			defer rep.Close()
			sink := &recordingSink{}
			clk := clocktesting.NewFakeClock(t0)
			lr, err := NewLeakReports(LeakReportsConfig{GitHub: &GitHubLeaksConfig{PublicKeysURL: rep.URL()}},
				LeakReportsOptions{Sink: sink, HTTPClient: rep.Client(), Clock: clk})
			g.Expect(err).NotTo(HaveOccurred())
			opts := Options{LeakReports: lr, Ready: func() bool { return ready }}
			if ready {
				opts.MaxStaleness = time.Minute
				opts.LastContact = func() time.Time { return t0.Add(-time.Hour) }
			}
			f := newFixture(t, opts)
			hs, err := NewHandlers(f.v, Config{})
			g.Expect(err).NotTo(HaveOccurred())
			k := f.issue("acme/payments/investigations:read") // not in this replica's index
			rec := httptest.NewRecorder()
			hs.Public.ServeHTTP(rec, signed(rep, "key-1", report(k.key.Plaintext())))
			g.Expect(rec.Code).To(Equal(http.StatusServiceUnavailable), rec.Body.String())
			g.Expect(rec.Header().Get("Retry-After")).NotTo(BeEmpty())
			g.Expect(sink.all()).To(BeEmpty())
		})
	}
}

// A previous secret whose grace period ended is denied for requests, so a
// report of it is a real key that nothing accepts: no action.
func TestLeakReportOfASecretPastItsGraceChangesNothing(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, nil)
	k := lf.issue("acme/payments/investigations:read")
	lf.rotate(k, time.Hour)
	lf.publish(k)
	lf.clock.Step(2 * time.Hour) // grace over; the manager has not rewritten the record yet
	g.Expect(lf.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).NotTo(Equal(Permit))
	rec, fb := lf.send(signed(lf.rep, "key-1", report(k.key.Plaintext())))
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	g.Expect(fb).To(ConsistOf(HaveField("Label", LabelTruePositive)))
	g.Expect(lf.sink.all()).To(BeEmpty(), "an ended secret was handed on as a live leak")
}
