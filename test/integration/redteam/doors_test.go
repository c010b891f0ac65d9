package redteam

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/verifier"
)

// The verifier's doors: which port serves what, whom it believes, what it
// tells a caller who has not proved anything, and whom a stranger can lock
// out. Every attacker here talks to the verifier from a loopback address
// of its own (127.0.0.x), so that the backoff one test provokes on purpose
// never slows down another test's requests from 127.0.0.1.

// from is an HTTP client whose connections come from the loopback address
// ip, as a caller on another host would.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// decisionRequest is a decision API body asking about a read of
// acme/payments/investigations.
func decisionRequest(credential string, env map[string]string) []byte {
	body := map[string]any{
		"subject":  map[string]string{"credential": credential},
		"resource": map[string]string{"org": "acme", "project": "payments", "type": "investigations"},
		"action":   map[string]string{"id": "read"},
	}
	if env != nil {
		body["environment"] = env
	}
	b, _ := json.Marshal(body)
	return b
}

// askDecision posts a decision request as c and returns the status and
// the raw answer.
func askDecision(g Gomega, c *http.Client, body []byte) (int, string) {
	resp, err := c.Post(verifierURL+verifier.DecisionPath, "application/json", bytes.NewReader(body))
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, string(b)
}

// decisionOf decodes a decision API answer.
func decisionOf(g Gomega, raw string) map[string]any {
	var d map[string]any
	g.Expect(json.Unmarshal([]byte(raw), &d)).To(Succeed(), raw)
	return d
}

// forwardAuth asks as c about a GET of path, the way Envoy's ext_authz
// does, from the client address xff ("" for none).
func forwardAuth(g Gomega, c *http.Client, path, credential, xff string) *http.Response {
	req, err := http.NewRequest(http.MethodGet, verifierURL+verifier.EnvoyPrefix+path, nil)
	g.Expect(err).NotTo(HaveOccurred())
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := c.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	return resp
}

// TestAttackListenersAreSeparate: the public OAuth endpoints and the
// decision and forward-auth endpoints are different doors. Whoever can
// reach the public port (the internet, for a token endpoint) can never ask
// for a decision or run forward-auth there, and the decision port serves
// no OAuth endpoint.
func TestAttackListenersAreSeparate(t *testing.T) {
	g := NewWithT(t)
	ensureIssuer(t, g)
	status := func(method, url, body string) int {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	// The public port answers its own paths...
	g.Eventually(func() int { return status(http.MethodGet, publicURL+verifier.JWKSPath, "") }).
		WithTimeout(waitFor).Should(Equal(http.StatusOK))
	g.Expect(status(http.MethodGet, publicURL+verifier.ASMetadataPath, "")).To(Equal(http.StatusOK))
	// (invalid_client once the verifier has loaded the records)
	g.Eventually(func() int {
		return status(http.MethodPost, publicURL+verifier.TokenPath, "grant_type=client_credentials")
	}).
		WithTimeout(waitFor).Should(Equal(http.StatusUnauthorized))
	// ...and nothing of the decision port's.
	for _, p := range []struct{ method, path string }{
		{http.MethodPost, verifier.DecisionPath},
		{http.MethodGet, verifier.EnvoyPrefix + "/acme/payments/investigations"},
		{http.MethodGet, verifier.TraefikPath},
		{http.MethodGet, verifier.NginxPath},
	} {
		g.Expect(status(p.method, publicURL+p.path, "{}")).To(Equal(http.StatusNotFound), "%s %s on the public port", p.method, p.path)
	}
	// The decision port serves no OAuth endpoint.
	for _, p := range []struct{ method, path string }{
		{http.MethodPost, verifier.TokenPath},
		{http.MethodGet, verifier.JWKSPath},
		{http.MethodGet, verifier.ASMetadataPath},
		{http.MethodGet, verifier.OIDCDiscoveryPath},
	} {
		g.Expect(status(p.method, verifierURL+p.path, "grant_type=client_credentials")).To(Equal(http.StatusNotFound), "%s %s on the decision port", p.method, p.path)
	}
}

// TestAttackUntrustedCallerClaimsEnvironment: someone holding a key that
// may be used only from 10.0.0.0/8 (a leaked key, say) asks the decision
// API directly and claims to be at 10.1.2.3, in the allowed country, on a
// compliant device. Only a caller the verifier is configured to trust may
// say where and when a request comes from; from anyone else the claims
// are ignored and the conditions fail closed.
func TestAttackUntrustedCallerClaimsEnvironment(t *testing.T) {
	g := NewWithT(t)
	victim := newTenant(t, g, "victim")
	cases := []struct {
		name string
		cond keywardv1.AccessConditions
		env  map[string]string
		why  string
	}{
		{"address", keywardv1.AccessConditions{SourceCIDRs: []keywardv1.CIDR{"10.0.0.0/8"}}, map[string]string{"address": "10.1.2.3"}, string(verifier.ReasonSourceNotAllowed)},
		{"country", keywardv1.AccessConditions{Countries: []keywardv1.CountryCode{"DE"}}, map[string]string{"country": "DE"}, string(verifier.ReasonCountryNotAllowed)},
		{"device", keywardv1.AccessConditions{RequireCompliantDevice: true}, map[string]string{"device": "compliant"}, string(verifier.ReasonDeviceNotCompliant)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cond := tc.cond
			k := victim.createKey(t, g, "conditional-"+tc.name, keywardv1.APIKeySpec{Owner: "victim", Scopes: readScope, Conditions: &cond})
			key := victim.delivered(g, k.Name)
			// A trusted caller (127.0.0.2 in this suite) may say where the
			// request comes from: the key is permitted.
			g.Eventually(func(g Gomega) {
				_, raw := askDecision(g, from(trustedCaller), decisionRequest(key, tc.env))
				g.Expect(decisionOf(g, raw)["decision"]).To(Equal("Permit"), raw)
			}).WithTimeout(waitFor).Should(Succeed())
			// The same claims from anyone else are ignored.
			status, raw := askDecision(g, from("127.0.0.5"), decisionRequest(key, tc.env))
			g.Expect(status).To(Equal(http.StatusOK))
			d := decisionOf(g, raw)
			g.Expect(d["decision"]).To(Equal("Deny"), "an untrusted caller's environment was believed: %s", raw)
			g.Expect(d["reason"]).To(Equal(tc.why))
		})
	}
}

// TestAttackRandomSecretRevealsNoOwner: key IDs are public (status.prefix,
// X-Keyward-Key-Id, audit lines). Mallory wraps a random secret around
// victims' key IDs, with a correct checksum, and asks the decision API and
// forward-auth. Whatever the verifier answers before a secret was
// verified (suspended, an auth method the key may not use, backoff) must
// not tell her who owns the key.
func TestAttackRandomSecretRevealsNoOwner(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	victim := newTenant(t, g, "victim")
	const owner = "victim-owner@example.com"
	tokenOnly := victim.createKey(t, g, "token-only", keywardv1.APIKeySpec{
		Owner: owner, Scopes: readScope, AuthMethods: []keywardv1.AuthMethod{keywardv1.AuthMethodClientCredentials},
	})
	suspended := victim.createKey(t, g, "suspended", keywardv1.APIKeySpec{Owner: owner, Scopes: readScope})
	suspended.Spec.Suspended = true
	g.Expect(victim.c.Update(ctx, suspended)).To(Succeed())
	active := victim.createKey(t, g, "active", keywardv1.APIKeySpec{Owner: owner, Scopes: readScope})
	expectDenied(g, victim.delivered(g, "suspended"), string(verifier.ReasonSuspended))

	mallory := from("127.0.0.4")
	noIdentity := func(g Gomega, what, raw string, hdr http.Header) {
		g.Expect(raw).NotTo(ContainSubstring(owner), "%s: the body names the owner", what)
		for name, vs := range hdr {
			for _, v := range vs {
				g.Expect(v).NotTo(ContainSubstring(owner), "%s: header %s names the owner", what, name)
			}
			g.Expect(strings.HasPrefix(strings.ToLower(name), "x-keyward-key-id") || strings.HasPrefix(strings.ToLower(name), "x-keyward-owner")).
				To(BeFalse(), "%s: identity header %s on a denial", what, name)
		}
	}
	for _, k := range []*keywardv1.APIKey{tokenOnly, suspended, active} {
		// Six tries each: past the free failures, into backoff.
		for i := range 6 {
			forged, err := keys.Generate(k.Status.KeyID)
			g.Expect(err).NotTo(HaveOccurred())
			_, raw := askDecision(g, mallory, decisionRequest(forged.Plaintext(), nil))
			d := decisionOf(g, raw)
			g.Expect(d["decision"]).NotTo(Equal("Permit"))
			g.Expect(d).NotTo(HaveKey("owner"), "%s try %d (%s): the decision names the owner: %s", k.Name, i, d["reason"], raw)
			g.Expect(d).NotTo(HaveKey("keyID"), "%s try %d (%s): the decision names the key before its secret was verified: %s", k.Name, i, d["reason"], raw)
			noIdentity(g, k.Name+" decision", raw, nil)

			resp := forwardAuth(g, mallory, "/acme/payments/investigations", forged.Plaintext(), "203.0.113.4")
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			g.Expect(resp.StatusCode).NotTo(Equal(http.StatusOK))
			noIdentity(g, k.Name+" forward-auth", string(body), resp.Header)
		}
	}
}

// TestAttackThirdPartyLockout: failed guesses slow down the guesser, not
// the key. Mallory fails ten times against the victim's key ID from her
// own address; the victim, from its own, is still permitted on first use.
// And clients whose address is unknown are not one pool: Mallory failing
// without any forwarded address locks out nobody else who sends none.
func TestAttackThirdPartyLockout(t *testing.T) {
	g := NewWithT(t)
	victim, mal := newTenant(t, g, "victim"), newTenant(t, g, "mallory")
	vk := victim.createKey(t, g, "first-use", keywardv1.APIKeySpec{Owner: "victim", Scopes: readScope})
	mk := mal.createKey(t, g, "own", keywardv1.APIKeySpec{Owner: "mallory", Scopes: readScope})
	mallory := from("127.0.0.6")

	t.Run("another source", func(t *testing.T) {
		g := NewWithT(t)
		for range 10 {
			forged, err := keys.Generate(vk.Status.KeyID)
			g.Expect(err).NotTo(HaveOccurred())
			resp := forwardAuth(g, mallory, "/acme/payments/investigations", forged.Plaintext(), "203.0.113.66")
			_ = resp.Body.Close()
			g.Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
		}
		// The victim's first request, from its own address.
		resp := forwardAuth(g, from("127.0.0.7"), "/acme/payments/investigations", victim.delivered(g, "first-use"), "198.51.100.7")
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "the victim was locked out by someone else's failures: %s", body)
		g.Expect(resp.Header.Get(verifier.HeaderKeyID)).To(Equal(vk.Status.KeyID))
	})

	t.Run("no forwarded address", func(t *testing.T) {
		g := NewWithT(t)
		// Mallory fails with her own key ID, from a connection of her own,
		// without X-Forwarded-For.
		for range 10 {
			forged, err := keys.Generate(mk.Status.KeyID)
			g.Expect(err).NotTo(HaveOccurred())
			resp := forwardAuth(g, mallory, "/acme/payments/investigations", forged.Plaintext(), "")
			_ = resp.Body.Close()
		}
		fresh := victim.createKey(t, g, "first-use-unknown", keywardv1.APIKeySpec{Owner: "victim", Scopes: readScope})
		resp := forwardAuth(g, from("127.0.0.8"), "/acme/payments/investigations", victim.delivered(g, "first-use-unknown"), "")
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "clients without an address share Mallory's backoff: %s", body)
		g.Expect(resp.Header.Get(verifier.HeaderKeyID)).To(Equal(fresh.Status.KeyID))
	})
}

// TestAttackPathParameters: Mallory's own key may read every resource type
// of acme/payments. Servlet containers and some frameworks drop
// ";parameters" from path segments before resolving dot segments, so
// "/acme/payments/..;/hr" reaches the upstream as "/acme/hr". The verifier
// must not map such a path to a resource at all, in any spelling.
func TestAttackPathParameters(t *testing.T) {
	g := NewWithT(t)
	mal := newTenant(t, g, "mallory")
	mal.createKey(t, g, "wide", keywardv1.APIKeySpec{Owner: "mallory", Scopes: []keywardv1.Scope{"acme/payments/*:read"}})
	key := mal.delivered(g, "wide")
	c := from("127.0.0.9")
	// The key works on an honest path.
	g.Eventually(func(g Gomega) {
		resp := forwardAuth(g, c, "/acme/payments/investigations/INV-7", key, "198.51.100.9")
		_ = resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	}).WithTimeout(waitFor).Should(Succeed())
	for _, p := range []string{
		"/acme/payments/..;/hr",
		"/acme/payments/..;x=1/hr",
		"/acme/payments/..;jsessionid=0123/hr",
		"/acme/payments/..%3B/hr",
		"/acme/payments/..%3b/hr",
		"/acme/payments/..%253B/hr",
		"/acme/payments/investigations;x=1",
		"/acme/payments/investigations;jsessionid=0123/INV-7",
		"/acme/payments/investigations;x=1/../hr/users",
	} {
		resp := forwardAuth(g, c, p, key, "198.51.100.9")
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusForbidden), "%s: %s", p, body)
		g.Expect(string(body)).To(ContainSubstring(string(verifier.ReasonNoRoute)), p)
	}
	// Traefik and nginx pass the URI in a header; the same paths are
	// refused there.
	for _, style := range []struct{ endpoint, method, uri string }{
		{verifier.TraefikPath, "X-Forwarded-Method", "X-Forwarded-Uri"},
		{verifier.NginxPath, "X-Original-Method", "X-Original-URI"},
	} {
		req, err := http.NewRequest(http.MethodGet, verifierURL+style.endpoint, nil)
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Forwarded-For", "198.51.100.9")
		req.Header.Set(style.method, http.MethodGet)
		req.Header.Set(style.uri, "/acme/payments/..;/hr")
		resp, err := c.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusForbidden), style.endpoint)
	}
}
