package verifier

import (
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/keys"
)

func forgeries(g *WithT, keyID string, n int) []string {
	var out []string
	for range n {
		f, err := keys.Generate(keyID)
		g.Expect(err).NotTo(HaveOccurred())
		out = append(out, f.Plaintext())
	}
	return out
}

// Attack: forged tokens of a victim's (public) key ID published by the
// thousand, each reported by GitHub. They cost at most the key's forgery
// budget in PBKDF2 runs, and a live first use is still decided.
func TestAttackForgedLeakReportsCostABoundedHashingBudget(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, nil)
	victim := lf.issue("acme/payments/investigations:read")
	lf.publish(victim)
	other := lf.issue("acme/payments/investigations:read")
	lf.publish(other)

	var wg sync.WaitGroup
	codes := make([]int, 12)
	for i := range codes {
		body := report(forgeries(g, victim.key.ID(), 100)...)
		wg.Go(func() {
			rec, _ := lf.send(signed(lf.rep, "key-1", body))
			codes[i] = rec.Code
		})
	}
	d := lf.decide(other.key.Plaintext(), inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Permit), string(d.Reason))
	wg.Wait()
	g.Expect(lf.v.HashesRun()).To(BeNumerically("<=", forgeriesPerKey+1),
		"forgeries of one key ID beyond its budget were hashed")
	g.Expect(codes).To(HaveEach(http.StatusServiceUnavailable), "undecided forgeries are sent again, never labelled unchecked")
	g.Expect(lf.sink.all()).To(BeEmpty())

	// The budget comes back with the window: a real leak of the victim
	// is then decided.
	lf.clock.Step(forgeryWindow)
	rec, fb := lf.send(signed(lf.rep, "key-1", report(victim.key.Plaintext())))
	g.Expect(rec.Code).To(Equal(http.StatusOK), rec.Body.String())
	g.Expect(fb).To(ConsistOf(HaveField("Label", LabelTruePositive)))
}

// A token decided without hashing (a key this replica verified for a
// request) is acted on even when the report's other tokens cannot be
// hashed in time.
func TestLeakReportDecidesKnownTokensBeforeHashingOthers(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, func(c *GitHubLeaksConfig) { c.DecideTimeoutSeconds = 1 })
	victim := lf.issue("acme/payments/investigations:read")
	lf.publish(victim)
	g.Expect(lf.decide(victim.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
	for range cap(lf.v.hashes.slots) {
		lf.v.hashes.slots <- struct{}{} // requests hold every slot
	}
	defer func() {
		for range cap(lf.v.hashes.slots) {
			<-lf.v.hashes.slots
		}
	}()
	body := report(append(forgeries(g, victim.key.ID(), 3), victim.key.Plaintext())...)
	start := time.Now()
	rec, _ := lf.send(signed(lf.rep, "key-1", body))
	g.Expect(rec.Code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(rec.Body.String()).To(ContainSubstring("3 of 4 tokens"))
	g.Expect(time.Since(start)).To(BeNumerically("<", 3*time.Second))
	g.Expect(lf.sink.all()).To(ConsistOf(HaveField("KeyID", victim.key.ID())), "the cached leak is acted on")
	g.Expect(lf.decide(victim.key.Plaintext(), inScope, access.Environment{}).Reason).To(Equal(ReasonRevoked))
}
