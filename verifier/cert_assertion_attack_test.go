package verifier

import (
	"net/http"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// TestAssertionOfACertificateAndKeyKeyNeedsTheCertificate: an attacker
// who stole the private key of a SigningKey enrolled for a key bound with
// credential CertificateAndKey, but not the certificate's private key,
// signs client assertions and presents them as bearer credentials. Each
// must be refused as the key itself would be without its certificate;
// with the bound certificate on the same connection the assertion passes.
func TestAssertionOfACertificateAndKeyKeyNeedsTheCertificate(t *testing.T) {
	g := NewWithT(t)
	m := servedMutualTLS(t)
	cert := m.clients.Issue(t, testutil.CertOptions{CommonName: "reporter", DNSNames: []string{"reporter.example"}})
	k := m.boundKey(certbind.Binding{DNSName: "reporter.example", Authority: "clients", Credential: certbind.CertificateAndKey},
		record.AuthClientAssertion)
	stolen := newECKey(t)
	m.putClient(stolen.Public(), k.key.ID(), "")
	jti := 0
	assertion := func() string {
		jti++
		return sign(t, stolen, assertionClaims(k.key.ID(), m.clock.Now(), string(rune('a'+jti)), m.srv.URL))
	}

	for name, c := range map[string]*testutil.Cert{
		"no certificate":      nil,
		"another certificate": m.clients.Issue(t, testutil.CertOptions{DNSNames: []string{"billing.example"}}),
	} {
		res := m.use(assertion(), c)
		g.Expect(res.StatusCode).To(Equal(http.StatusUnauthorized), name)
		g.Expect(res.Header.Get("X-Keyward-Key-Id")).To(BeEmpty(), name)
	}

	res := m.use(assertion(), cert)
	g.Expect(res.StatusCode).To(Equal(http.StatusOK), challengeOf(res))
	g.Expect(res.Header.Get("X-Keyward-Key-Id")).To(Equal(k.key.ID()))
}
