package outage

import (
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/verifier"
)

func TestAnAPIServerOutage(t *testing.T) {
	g := NewWithT(t)
	const maxStaleness = 6 * time.Second
	v := startVerifier(t, g, env.Config, maxStaleness)
	ns := newNamespace(g)
	key := applyKey(g, ns, "through-an-outage", nil)
	eventually(g, v, key, verifier.ReasonAllowed, waitFor)

	tr := serve(v, key)
	stopping := time.Now()
	g.Expect(env.StopAPIServer()).To(Succeed())
	stopped := time.Now()
	contact := v.Watch.LastContact()
	staleAt := eventually(g, v, key, verifier.ReasonStale, maxStaleness+5*time.Second)
	g.Expect(readyz(v)).To(Equal(http.StatusServiceUnavailable))
	g.Consistently(func() int { return readyz(v) }).WithTimeout(time.Second).Should(Equal(http.StatusServiceUnavailable))
	g.Expect(v.Watch.LastContact()).To(Equal(contact), "nothing was heard from a stopped API server")

	restarting := time.Now()
	g.Expect(env.StartAPIServer()).To(Succeed())
	started := time.Now()
	permitted := eventually(g, v, key, verifier.ReasonAllowed, waitFor)
	// Each watch is known current again at its own heartbeat: the signing
	// keys may be a heartbeat or two behind the records.
	_, notReady := readiness(v)
	g.Eventually(func() int { return readyz(v) }).WithTimeout(waitFor).Should(Equal(http.StatusOK))
	ready := time.Now()
	answers, errs := tr.end()
	g.Expect(errs).To(BeZero())

	// Decided from what it knew while the bound allowed it, never a
	// Permit after, and nothing but Indeterminate until it heard the API
	// server again.
	bound := contact.Add(maxStaleness)
	g.Expect(bound).To(BeTemporally(">", stopped), "the verifier heard the API server shortly before it stopped")
	var permitsInOutage, staleAnswers int
	for _, a := range answers {
		switch {
		case a.came.Before(bound):
			g.Expect(a.Result).To(Equal(verifier.Permit), "answered %v, within the staleness bound", a.came)
			if a.sent.After(stopped) {
				permitsInOutage++
			}
		case a.sent.After(bound) && a.came.Before(restarting):
			g.Expect(a.Result).To(Equal(verifier.Indeterminate), "answered %v, past the staleness bound", a.came)
			g.Expect(a.Reason).To(Equal(verifier.ReasonStale))
			staleAnswers++
		}
	}
	g.Expect(permitsInOutage).To(BeNumerically(">", 0))
	g.Expect(staleAnswers).To(BeNumerically(">", 0))
	t.Logf("API server stopped in %v; last contact %v before the stop began; Indeterminate %v after the stop began (--max-staleness %v); permitted again %v after it answered (%v after its start began); ready %v after it answered (when permitted: %q)",
		stopped.Sub(stopping).Round(time.Millisecond), stopping.Sub(contact).Round(time.Millisecond),
		staleAt.Sub(stopping).Round(time.Millisecond), maxStaleness,
		permitted.Sub(started).Round(time.Millisecond), permitted.Sub(restarting).Round(time.Millisecond),
		ready.Sub(started).Round(time.Millisecond), strings.TrimSpace(notReady))
}

func TestARevocationTheVerifierCouldNotSeeIsEnforcedOnReconnecting(t *testing.T) {
	g := NewWithT(t)
	proxy, err := testutil.NewAPIProxy(env.Config)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(proxy.Close)
	v := startVerifier(t, g, proxy.Config(), time.Minute)
	ns := newNamespace(g)
	key := applyKey(g, ns, "revoked-unseen", nil)
	eventually(g, v, key, verifier.ReasonAllowed, waitFor)

	proxy.Cut()
	revoke(g, ns, "revoked-unseen")
	d, err := decide(v, key)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d.Reason).To(Equal(verifier.ReasonAllowed), "cut off, within the bound, the verifier decides from what it knows")

	restored := time.Now()
	g.Expect(proxy.Restore()).To(Succeed())
	enforced := eventually(g, v, key, verifier.ReasonRevoked, waitFor)
	back, ok := recordsReadAgain(proxy, restored)
	g.Expect(ok).To(BeTrue(), "the records were read again before the revocation was enforced")
	g.Expect(enforced.Sub(back)).To(BeNumerically("<", time.Second), "enforced within a second of reading the records again")
	t.Logf("revocation made while cut off: enforced %v after the proxy forwarded again, %v after the record watch reconnected",
		enforced.Sub(restored).Round(time.Millisecond), enforced.Sub(back).Round(time.Millisecond))
}

// recordsReadAgain is when the record informer (not the heartbeat) was
// first answered through the proxy after since: a list of the records, or
// a watch that asked for bookmarks, which the heartbeat's watch does not.
func recordsReadAgain(proxy *testutil.APIProxy, since time.Time) (time.Time, bool) {
	for _, f := range proxy.Forwarded() {
		informer := !f.Watch || f.Query.Get("allowWatchBookmarks") == "true"
		if f.At.After(since) && informer && f.Query.Get("labelSelector") == record.RecordLabel {
			return f.At, true
		}
	}
	return time.Time{}, false
}

func TestAStalledWatchIsWatchedAgain(t *testing.T) {
	g := NewWithT(t)
	proxy, err := testutil.NewAPIProxy(env.Config)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(proxy.Close)
	v := startVerifier(t, g, proxy.Config(), time.Minute)
	ns := newNamespace(g)
	key := applyKey(g, ns, "revoked-behind-a-stall", nil)
	eventually(g, v, key, verifier.ReasonAllowed, waitFor)

	// The connection of the record watch stays open and delivers nothing,
	// while every new request goes through.
	proxy.StallOpenWatches()
	revoke(g, ns, "revoked-behind-a-stall")
	revoked := time.Now()
	enforced := eventually(g, v, key, verifier.ReasonRevoked, 10*time.Second)
	t.Logf("revocation behind a stalled watch: enforced %v after it was published (heartbeat 1s)", enforced.Sub(revoked).Round(time.Millisecond))
}

func TestStalledWatchesMakeTheVerifierStale(t *testing.T) {
	g := NewWithT(t)
	const maxStaleness = 4 * time.Second
	proxy, err := testutil.NewAPIProxy(env.Config)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(proxy.Close)
	v := startVerifier(t, g, proxy.Config(), maxStaleness)
	ns := newNamespace(g)
	key := applyKey(g, ns, "on-stalled-watches", nil)
	eventually(g, v, key, verifier.ReasonAllowed, waitFor)

	// Lists go through, watches deliver nothing: the API server answers,
	// but the verifier cannot know its records are current.
	stalled := time.Now()
	proxy.StallWatches()
	staleAt := eventually(g, v, key, verifier.ReasonStale, maxStaleness+5*time.Second)
	g.Expect(readyz(v)).To(Equal(http.StatusServiceUnavailable))
	tr := serve(v, key)
	g.Consistently(func() int { return readyz(v) }).WithTimeout(2 * time.Second).Should(Equal(http.StatusServiceUnavailable))

	restored := time.Now()
	g.Expect(proxy.Restore()).To(Succeed())
	permitted := eventually(g, v, key, verifier.ReasonAllowed, waitFor)
	answers, errs := tr.end()
	g.Expect(errs).To(BeZero())
	for _, a := range answers {
		if a.came.Before(restored) {
			g.Expect(a.Result).To(Equal(verifier.Indeterminate), "answered %v, on stalled watches", a.came)
		}
	}
	g.Expect(readyz(v)).To(Equal(http.StatusOK))
	t.Logf("stalled watches: Indeterminate %v after the stall (--max-staleness %v); permitted again %v after it ended",
		staleAt.Sub(stalled).Round(time.Millisecond), maxStaleness, permitted.Sub(restored).Round(time.Millisecond))
}
