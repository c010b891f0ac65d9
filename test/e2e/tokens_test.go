package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// An operator turns tokens on, as the README says: an issuer SigningKey in
// the verifier namespace, an issuer in the verifier configuration the
// manager mounts (config/e2e names it with --verifier-config-map), the
// verifier restarted to read it (configureVerifier). A key that may use
// the client credentials grant then gets a token from the verifier pods'
// TLS port and is permitted with it; revoking the key denies the token
// before it expires.
func TestTokensFromTheVerifierPods(t *testing.T) {
	g := NewWithT(t)
	// The issuer before the verifier restarts with tokens turned on, so
	// that it has its signing key when it starts.
	_, err := kubectlIn(`apiVersion: keyward.dev/v1alpha1
kind: SigningKey
metadata:
  name: tokens
  namespace: `+verifierNS+`
spec:
  mode: Issuer
  issuer:
    algorithm: RS256
    tokenLifetimeSeconds: 300
`, "apply", "-f", "-")
	g.Expect(err).NotTo(HaveOccurred())
	configureVerifier(t, verifierSettings{tokens: true})
	waitReadyIn(t, verifierNS, "signingkey/tokens")

	applyKeyIn(t, openNS, "e2e-client", "  authMethods: [ClientCredentials]\n")
	key := deliveredKeyIn(g, openNS, "e2e-client", "key")
	keyID := jsonpath(g, "{.status.keyID}", "get", "apikey", "e2e-client", "-n", openNS)

	client, err := verifierClient()
	g.Expect(err).NotTo(HaveOccurred())
	var token string
	g.Eventually(func(g Gomega) {
		req, err := http.NewRequest(http.MethodPost, "https://"+publicAddr+"/oauth2/token",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"acme/payments/investigations:read"}}.Encode()))
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(keyID, key)
		resp, err := client.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
		var tok struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
		}
		g.Expect(json.Unmarshal(body, &tok)).To(Succeed())
		g.Expect(tok.TokenType).To(Equal("Bearer"))
		token = tok.AccessToken
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(token).NotTo(ContainSubstring(key))

	// bearer answers the status and headers only; the body is closed here.
	type answer struct {
		StatusCode int
		Header     http.Header
	}
	bearer := func() answer {
		req, err := http.NewRequest(http.MethodGet, "https://"+verifierAddr+"/authz/envoy/acme/payments/investigations/INV-7", nil)
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Forwarded-For", "10.1.2.3")
		resp, err := client.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		return answer{StatusCode: resp.StatusCode, Header: resp.Header}
	}
	// Each replica verifies the token against the JWKS it loaded.
	for range 10 {
		resp := bearer()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		g.Expect(resp.Header.Get("X-Keyward-Key-Id")).To(Equal(keyID))
	}
	t.Logf("a token from POST /oauth2/token permitted by the verifier pods for key %s", keyID)

	must(t, "patch", "apikey", "e2e-client", "-n", openNS, "--type=merge", "-p", `{"spec":{"revoked":true}}`)
	g.Eventually(func(g Gomega) {
		for range 10 {
			g.Expect(bearer().StatusCode).To(Equal(http.StatusUnauthorized))
		}
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed(), "the token of a revoked key is denied before it expires")
}
