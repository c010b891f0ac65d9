package e2e

import (
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// A key bound by SPIFFE ID to a certificate of the authority e2e-clients:
// the verifier pods' own TLS port (config/e2e: self-managed certificate,
// client certificates requested) permits the certificate alone, refuses
// the same SPIFFE ID from another CA and a request without a
// certificate, and denies the certificate once the APIKey is revoked.
func TestACertificateBoundKeyOverTheVerifiersTLS(t *testing.T) {
	g := NewWithT(t)
	configureVerifier(t, verifierSettings{})
	const spiffeID = "spiffe://e2e.keyward.dev/ns/" + openNS + "/sa/reporter"
	if _, err := kubectl("delete", "apikey", "e2e-mtls", "-n", openNS, "--ignore-not-found", "--wait=true"); err != nil {
		t.Fatal(err)
	}
	applyKeyIn(t, openNS, "e2e-mtls", `  authMethods: [MutualTLS]
  clientCertificate:
    uri: `+spiffeID+`
    authority: e2e-clients
`)
	keyID := jsonpath(g, "{.status.keyID}", "get", "apikey", "e2e-mtls", "-n", openNS)

	named := testutil.CertOptions{CommonName: "reporter", URIs: []string{spiffeID}}
	bound := e2eClientsCA(t).Issue(t, named).TLSCertificate()
	impostor := testutil.NewCA(t, "not-e2e-clients").Issue(t, named).TLSCertificate()

	// Every request is a fresh connection, so the loops reach both pods.
	g.Eventually(func(g Gomega) {
		for range 10 {
			status, keyIDHeader := forwardAuth(g, bound)
			g.Expect(status).To(Equal(http.StatusOK))
			g.Expect(keyIDHeader).To(Equal(keyID))
		}
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	t.Logf("GET /authz/envoy/… over TLS with the certificate of %s alone: 200, X-Keyward-Key-Id %s", spiffeID, keyID)
	// The handshake takes any certificate (client auth "request"): the
	// impostor is refused by the binding's authority, with a 401.
	for _, refused := range [][]tls.Certificate{{impostor}, nil} {
		status, keyIDHeader := forwardAuth(g, refused...)
		g.Expect(status).To(Equal(http.StatusUnauthorized))
		g.Expect(keyIDHeader).To(BeEmpty())
	}

	revokedAt := time.Now()
	must(t, "patch", "apikey", "e2e-mtls", "-n", openNS, "--type=merge", "-p", `{"spec":{"revoked":true}}`)
	g.Eventually(func(g Gomega) {
		for range 10 {
			status, _ := forwardAuth(g, bound)
			g.Expect(status).To(Equal(http.StatusUnauthorized))
		}
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed(), "the certificate of a revoked key is denied")
	t.Logf("the certificate denied by the verifier pods %s after kubectl patch revoked its key", time.Since(revokedAt).Round(time.Millisecond))
	t.Logf("kubectl describe apikey e2e-mtls\n%s", must(t, "describe", "apikey", "e2e-mtls", "-n", openNS))
}

// forwardAuth asks the verifier pods' forward-auth endpoint, over TLS with
// clientCerts, whether an investigation may be read from an address the
// e2e keys allow, and returns the status and X-Keyward-Key-Id.
func forwardAuth(g Gomega, clientCerts ...tls.Certificate) (int, string) {
	client, err := verifierClient(clientCerts...)
	g.Expect(err).NotTo(HaveOccurred())
	req, err := http.NewRequest(http.MethodGet, "https://"+verifierAddr+"/authz/envoy/acme/payments/investigations/INV-7", nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("X-Forwarded-For", "10.1.2.3")
	resp, err := client.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Keyward-Key-Id")
}
