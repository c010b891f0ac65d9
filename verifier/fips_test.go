package verifier

import (
	"crypto/fips140"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/fipsmode"
	"github.com/keyward-dev/keyward/internal/keys"
)

// In FIPS mode a key whose stored hash has fewer PBKDF2 iterations than the
// mode allows is not verified, and the decision says why; outside it the
// same key is permitted (make test runs this package both ways).
func TestFIPSModeRefusesAStoredHashBelowItsIterationCount(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	weak, err := keys.NewHasher(fipsmode.MinPBKDF2Iterations-1, true)
	g.Expect(err).NotTo(HaveOccurred())
	f.hash = weak
	i := f.issue("acme/payments/investigations:read")
	f.publish(i)

	d := f.decide(i.key.Plaintext(), inScope, access.Environment{})
	if !fips140.Enabled() {
		g.Expect(d.Result).To(Equal(Permit))
		return
	}
	g.Expect(d.Result).To(Equal(Indeterminate))
	g.Expect(d.Reason).To(Equal(ReasonHashNotAllowed))
	g.Expect(d.Message).To(Equal("the key's stored hash is not allowed in FIPS mode; rotate the key"))
	g.Expect(d.KeyID).To(BeEmpty(), "the key was not verified, so it is not named")
}
