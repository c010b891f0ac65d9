package verifier

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
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
