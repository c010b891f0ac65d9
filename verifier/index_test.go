package verifier

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/record"
)

func TestAnInvalidRecordDeniesItsKey(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))

	name := record.SecretName(k.key.ID())
	for _, bad := range [][]byte{
		[]byte(`{"schema":"keyward.dev/record/v9"}`),
		[]byte(`not json`),
		nil,
	} {
		err := f.index.Put(name, bad)
		g.Expect(err).To(MatchError(ContainSubstring(name)))
		g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Reason).To(Equal(ReasonUnknownKey))
		f.publish(k)
	}

	// A record under another key's Secret name is refused too: the Secret
	// name is what deletions are keyed by.
	other := f.issue("acme/payments/investigations:read")
	b, err := record.Encode(other.rec)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.index.Put(name, b)).To(MatchError(ContainSubstring("not")))
	_, ok := f.index.Lookup(other.key.ID())
	g.Expect(ok).To(BeFalse())
}
