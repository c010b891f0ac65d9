package verifier

import (
	"encoding/json"
	"net/http"
	"net/url"
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
// must be refused as the key itself would be without its certificate, on
// forward-auth and at the token endpoint; with the bound certificate on
// the same connection the assertion passes, and its token is bound.
func TestAssertionOfACertificateAndKeyKeyNeedsTheCertificate(t *testing.T) {
	g := NewWithT(t)
	m := servedMutualTLS(t)
	cert, k := m.boundReporter(certbind.CertificateAndKey, record.AuthClientAssertion)
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
		g.Expect(challengeOf(res)).To(ContainSubstring(`error="invalid_token"`), name)
		g.Expect(res.Header.Get("X-Keyward-Key-Id")).To(BeEmpty(), name)

		// Nor does the assertion get a token (private_key_jwt).
		status, body := m.assertionGrant(c, assertion())
		g.Expect(status).To(Equal(http.StatusUnauthorized), name)
		g.Expect(body).To(HaveKeyWithValue("error", "invalid_client"), name)
	}

	res := m.use(assertion(), cert)
	g.Expect(res.StatusCode).To(Equal(http.StatusOK), challengeOf(res))
	g.Expect(res.Header.Get("X-Keyward-Key-Id")).To(Equal(k.key.ID()))
	status, body := m.assertionGrant(cert, assertion())
	g.Expect(status).To(Equal(http.StatusOK), "%v", body["error_description"])
	g.Expect(m.independentClaims(g, body["access_token"].(string))).To(HaveKeyWithValue("cnf", map[string]any{"x5t#S256": x5tS256(cert)}))
}

// assertionGrant asks the token endpoint for a token with a client
// assertion (private_key_jwt) over a connection with cert, or none.
func (m *mtlsServer) assertionGrant(cert *testutil.Cert, assertion string) (int, map[string]any) {
	m.t.Helper()
	res, err := m.client(cert).PostForm(m.srv.URL+TokenPath, url.Values{
		"grant_type": {"client_credentials"}, "client_assertion_type": {jwtBearerAssertion}, "client_assertion": {assertion},
	})
	if err != nil {
		m.t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		m.t.Fatal(err)
	}
	return res.StatusCode, body
}
