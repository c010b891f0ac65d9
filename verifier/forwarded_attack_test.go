package verifier

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// Attacks with a client-certificate header. A certificate is public: the
// header proves nothing of its holder's key, so it may be believed only
// where a proxy that terminated the client's mutual TLS wrote it.

// TestAttackForgedCertificateHeaderOnAPlainSite: one proxy (one address
// among the trusted hops) serves an mTLS site and a plain one. nginx's
// auth_request passes every header of the plain site's client to the
// verifier, so that client writes the victim's certificate into the
// header and sends no key. The plain forward-auth endpoints never read
// the header.
func TestAttackForgedCertificateHeaderOnAPlainSite(t *testing.T) {
	m := servedMutualTLS(t)
	victim, k := m.boundReporter("")
	srv := m.behindProxy("127.0.0.0/8")
	req, _ := http.NewRequest(http.MethodGet, srv.URL+NginxPath, nil)
	req.Header.Set("X-Original-Method", http.MethodGet)
	req.Header.Set("X-Original-URI", boundPath)
	req.Header.Set("X-SSL-Client-Cert", escapedPEM(victim.Cert))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode == http.StatusOK {
		t.Fatalf("a header holding only the victim's public certificate authenticates as key %s (victim %s)", res.Header.Get(HeaderKeyID), k.key.ID())
	}
	NewWithT(t).Expect(res.StatusCode).To(Equal(http.StatusUnauthorized))
}

// TestAttackForgedCertificateHeaderAtTheTokenEndpoint: the public port
// sits behind an ordinary ingress, which passes a client's own header
// on, and that ingress is among clientCertificates.forwarded's trusted
// hops (the decision port's proxies). A client that writes the victim's
// certificate into the header gets no token: the token endpoint reads a
// header only as clientCertificates.publicForwarded says.
func TestAttackForgedCertificateHeaderAtTheTokenEndpoint(t *testing.T) {
	m := servedMutualTLS(t)
	victim, k := m.boundReporter("")
	hs, err := NewHandlers(m.v, Config{ClientCertificates: ClientCertificates{
		Forwarded: &ForwardedCertificate{Format: ForwardedNginx, TrustedHops: []string{"127.0.0.0/8"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	public := httptest.NewServer(hs.Public)
	t.Cleanup(public.Close)

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {k.key.ID()}}
	req, _ := http.NewRequest(http.MethodPost, public.URL+TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-SSL-Client-Cert", escapedPEM(victim.Cert))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode == http.StatusOK {
		t.Fatalf("the public port issued a token for key %s to a peer that only wrote the victim's certificate into a header", k.key.ID())
	}
	NewWithT(t).Expect(res.StatusCode).To(Equal(http.StatusUnauthorized))
}

// TestEnvoyXFCCWithSeveralDNSNames: Envoy writes one DNS= pair per DNS
// name of the certificate (and one URI= per URI); such an element is
// read, not refused as malformed.
func TestEnvoyXFCCWithSeveralDNSNames(t *testing.T) {
	g := NewWithT(t)
	ca := testutil.NewCA(t, "corp")
	c := ca.Issue(t, testutil.CertOptions{CommonName: "reporter", DNSNames: []string{"a.example", "b.example"}})
	sum := sha256.Sum256(c.Cert.Raw)
	xfcc := `By=spiffe://cluster.local/ns/x/sa/envoy;Hash=` + hex.EncodeToString(sum[:]) +
		`;Cert="` + escapedPEM(c.Cert) + `";Subject="CN=reporter";URI=spiffe://a;URI=spiffe://b;DNS=a.example;DNS=b.example`
	chain, err := parseEnvoyXFCC(xfcc)
	g.Expect(err).NotTo(HaveOccurred(), "a header Envoy writes for a certificate with two DNS names")
	g.Expect(chain).To(HaveLen(1))
	g.Expect(certbind.Thumbprint(chain[0].Raw)).To(Equal(certbind.Thumbprint(c.Cert.Raw)))

	// The fields that name or vouch for the certificate stay unique.
	for _, dup := range []string{"By=spiffe://other", "Hash=" + hex.EncodeToString(sum[:]), `Cert="` + escapedPEM(c.Cert) + `"`} {
		_, err := parseEnvoyXFCC(xfcc + ";" + dup)
		g.Expect(err).To(MatchError(ContainSubstring("appears twice in one element")), dup)
	}
}
