package verifier

import (
	"net/url"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
)

// TestTokenEndpointWithClientAssertion: private_key_jwt (RFC 7523 §2.2)
// gets a token once per assertion; a replay, or a key that does not allow
// assertions, gets an RFC 6749 error naming the problem.
func TestTokenEndpointWithClientAssertion(t *testing.T) {
	g := NewWithT(t)
	f, srv := served(t)
	f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
	k := f.issueWithMethods([]string{record.AuthClientAssertion}, "acme/payments/investigations:read")
	client := newECKey(t)
	f.putClient(client.Public(), k.key.ID(), "")
	other := f.issueWithMethods([]string{record.AuthClientCredentials}, "acme/payments/investigations:read")
	otherClient := newECKey(t)
	f.putClient(otherClient.Public(), other.key.ID(), "")

	// The assertion's audience is the issuer, and here the server's URL is.
	assert := func(key any, keyID, jti string) url.Values {
		c := assertionClaims(keyID, t0, jti, srv.URL)
		return url.Values{
			"grant_type":            {"client_credentials"},
			"client_assertion_type": {jwtBearerAssertion},
			"client_assertion":      {sign(t, key.(signerKey), c)},
		}
	}
	status, _, body := postToken(t, srv, assert(client, k.key.ID(), "a"), "", "")
	g.Expect(status).To(Equal(200), "%v", body["error_description"])
	g.Expect(body).To(HaveKeyWithValue("token_type", "Bearer"))
	g.Expect(f.forward(body["access_token"].(string), "/acme/payments/investigations/INV-7").Code).To(Equal(200))

	status, _, body = postToken(t, srv, assert(client, k.key.ID(), "a"), "", "")
	g.Expect(status).To(Equal(401))
	g.Expect(body).To(HaveKeyWithValue("error", "invalid_client"))
	g.Expect(body["error_description"]).To(ContainSubstring("assertion_replayed"))

	status, _, body = postToken(t, srv, assert(otherClient, other.key.ID(), "b"), "", "")
	g.Expect(status).To(Equal(400))
	g.Expect(body).To(HaveKeyWithValue("error", "unauthorized_client"))
	g.Expect(body["error_description"]).To(ContainSubstring("ClientAssertion"))

	form := assert(client, k.key.ID(), "c")
	form.Set("client_assertion_type", "urn:example:other")
	status, _, body = postToken(t, srv, form, "", "")
	g.Expect(status).To(Equal(400))
	g.Expect(body["error_description"]).To(ContainSubstring("client_assertion_type must be"))
}

// TestClientAssertionOfAKeyNotActiveIsRefused: an enrolled client key
// stays published while its APIKey is revoked, suspended or expired, and
// the verifier refuses its assertions by the APIKey's state.
func TestClientAssertionOfAKeyNotActiveIsRefused(t *testing.T) {
	past := t0.Add(-time.Second)
	for name, tc := range map[string]struct {
		change func(*record.Record)
		reason Reason
	}{
		"revoked":   {func(r *record.Record) { r.State, r.Secrets, r.RevokedAt = record.Revoked, nil, &past }, ReasonRevoked},
		"suspended": {func(r *record.Record) { r.State = record.Suspended }, ReasonSuspended},
		"expired":   {func(r *record.Record) { r.ExpiresAt = &past }, ReasonExpired},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f, srv := served(t)
			f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
			k := f.issueWithMethods([]string{record.AuthClientAssertion}, "acme/payments/investigations:read")
			client := newECKey(t)
			f.putClient(client.Public(), k.key.ID(), "")
			tc.change(&k.rec)
			k.rec.Version++
			f.publish(k)

			status, _, body := postToken(t, srv, url.Values{
				"grant_type":            {"client_credentials"},
				"client_assertion_type": {jwtBearerAssertion},
				"client_assertion":      {sign(t, client, assertionClaims(k.key.ID(), t0, "a", srv.URL))},
			}, "", "")
			g.Expect(status).To(Equal(401))
			g.Expect(body).To(HaveKeyWithValue("error", "invalid_client"))
			g.Expect(body["error_description"]).To(ContainSubstring(string(tc.reason)))
		})
	}
}

// TestOAuthConfigRefusesWhatItCannotUse: every bad setting is named.
func TestOAuthConfigRefusesWhatItCannotUse(t *testing.T) {
	tests := map[string]struct {
		c    OAuthConfig
		want string
	}{
		"settings without issuer": {OAuthConfig{LeewaySeconds: 10}, "issuer is required"},
		"relative issuer":         {OAuthConfig{Issuer: "/keyward"}, "oauth.issuer"},
		"issuer with query":       {OAuthConfig{Issuer: "https://k.example.com/?a=b"}, "without query"},
		"negative lifetime":       {OAuthConfig{Issuer: testIssuer, TokenLifetimeSeconds: -1}, "oauth.tokenLifetimeSeconds: -1 is negative"},
		"leeway too long":         {OAuthConfig{Issuer: testIssuer, LeewaySeconds: 3600}, "more than 300"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(Config{OAuth: tc.c}.Validate()).To(MatchError(ContainSubstring(tc.want)))
		})
	}
	NewWithT(t).Expect(Config{OAuth: OAuthConfig{Issuer: testIssuer}}.Validate()).To(Succeed())
}

// TestTokenRequestsSpendTheKeysLimits: minting tokens is not a way around
// the key's rate limit.
func TestTokenRequestsSpendTheKeysLimits(t *testing.T) {
	g := NewWithT(t)
	f, srv := served(t)
	f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
	k := f.issue("acme/payments/investigations:read")
	k.rec.AuthMethods = []string{record.AuthClientCredentials}
	k = withLimits(k, record.RateLimit{
		Limits: []record.Limit{{Name: "per-minute", Strategy: ratelimit.FixedWindow, Limit: 2, PeriodSeconds: 60}},
	})
	f.publish(k)
	grant := url.Values{"grant_type": {"client_credentials"}}
	for range 2 {
		status, _, body := postToken(t, srv, grant, k.key.ID(), k.key.Plaintext())
		g.Expect(status).To(Equal(200), "%v", body)
	}
	status, hdr, body := postToken(t, srv, grant, k.key.ID(), k.key.Plaintext())
	g.Expect(status).To(Equal(429))
	g.Expect(body).To(HaveKeyWithValue("error", "temporarily_unavailable"))
	g.Expect(body["error_description"]).To(ContainSubstring(`limit "per-minute" is used up`))
	g.Expect(hdr.Get("Retry-After")).NotTo(BeEmpty())
}
