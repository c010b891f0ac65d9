package verifier

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/scope"
	"github.com/keyward-dev/keyward/internal/token"
)

// TestIssuerRotationOverlap follows one rotation on the fake clock, with
// the timestamps the manager writes: the new key is published an overlap
// before it signs; the old one signs until then and stays published until
// its last token expired.
func TestIssuerRotationOverlap(t *testing.T) {
	g := NewWithT(t)
	f := newOAuthFixture(t, OAuthConfig{TokenLifetimeSeconds: int(testTokenLifetime / time.Second)})
	oldKey, newKey := testRSAKey(t, 0), testRSAKey(t, 1)
	k := f.issueWithMethods([]string{record.AuthClientCredentials}, "acme/payments/investigations:read")

	// The rotation starts at t0: the old key signs until t0+overlap and
	// leaves the JWKS a token lifetime (and the leeway) after that.
	handover := t0.Add(testOverlap)
	withdraw := handover.Add(testTokenLifetime + 30*time.Second)
	oldKID := f.putIssuer(oldKey, t0.Add(-24*time.Hour), t0.Add(-24*time.Hour), &handover, &withdraw)
	newKID := f.putIssuer(newKey, t0, handover, nil, nil)

	jwks := func() (kids []string, cache string) {
		r := httptest.NewRequest(http.MethodGet, JWKSPath, nil)
		w := httptest.NewRecorder()
		f.handler.ServeHTTP(w, r)
		var set struct{ Keys []struct{ Kid string } }
		g.Expect(json.Unmarshal(w.Body.Bytes(), &set)).To(Succeed())
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		return kids, w.Header().Get("Cache-Control")
	}
	issue := func() (raw, kid string) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {k.key.ID()}, "client_secret": {k.key.Plaintext()}}
		r := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		f.handler.ServeHTTP(w, r)
		g.Expect(w.Code).To(Equal(http.StatusOK), w.Body.String())
		var resp tokenResponse
		g.Expect(json.Unmarshal(w.Body.Bytes(), &resp)).To(Succeed())
		return resp.AccessToken, headerKID(resp.AccessToken)
	}
	accepted := func(raw string) bool {
		return f.forward(raw, "/acme/payments/investigations/INV-7").Code == http.StatusOK
	}

	// Published before it signs: both keys in the JWKS, the old one signs,
	// and caches may keep the JWKS no longer than the overlap.
	kids, cache := jwks()
	g.Expect(kids).To(ConsistOf(oldKID, newKID))
	g.Expect(cache).To(Equal("public, max-age=300"))
	early, kid := issue()
	g.Expect(kid).To(Equal(oldKID))

	// The last token of the old key, a moment before the handover.
	f.clock.SetTime(handover.Add(-time.Second))
	last, kid := issue()
	g.Expect(kid).To(Equal(oldKID))

	// From the handover new tokens carry the new kid; old tokens still
	// validate, the old key is still published.
	f.clock.SetTime(handover)
	fresh, kid := issue()
	g.Expect(kid).To(Equal(newKID))
	g.Expect(accepted(last)).To(BeTrue())
	g.Expect(accepted(fresh)).To(BeTrue())
	kids, _ = jwks()
	g.Expect(kids).To(ConsistOf(oldKID, newKID))
	// Tokens issued before the handover expired on their own.
	g.Expect(accepted(early)).To(BeFalse())

	// Just before the withdrawal the old key is still there; the last
	// token it signed has expired by then.
	f.clock.SetTime(withdraw.Add(-time.Second))
	kids, _ = jwks()
	g.Expect(kids).To(ConsistOf(oldKID, newKID))
	g.Expect(accepted(last)).To(BeFalse())

	f.clock.SetTime(withdraw)
	kids, _ = jwks()
	g.Expect(kids).To(ConsistOf(newKID))
	now, kid := issue()
	g.Expect(kid).To(Equal(newKID))
	g.Expect(accepted(now)).To(BeTrue())
	// A token of the old key, however long it claims to live, now names
	// an unknown kid.
	d := f.v.Decide(context.Background(), Request{Credential: last})
	g.Expect(d.Reason).To(Equal(ReasonTokenUnknownKID))
}

// TestJWKSCacheFollowsTheOverlap: a JWKS cached just before a new key is
// published expires by the moment it appears, and never outlives the
// shortest publish-ahead overlap.
func TestJWKSCacheFollowsTheOverlap(t *testing.T) {
	g := NewWithT(t)
	f := newOAuthFixture(t, OAuthConfig{})
	f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour+2*time.Minute), nil, nil)
	f.putIssuer(testRSAKey(t, 1), t0.Add(45*time.Second), t0.Add(45*time.Second+2*time.Minute), nil, nil)
	r := httptest.NewRequest(http.MethodGet, JWKSPath, nil)
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	g.Expect(w.Header().Get("Cache-Control")).To(Equal("public, max-age=45"))
	f.clock.SetTime(t0.Add(time.Minute))
	w = httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	g.Expect(w.Header().Get("Cache-Control")).To(Equal("public, max-age=120"))
}

// TestEvictionLiftsSkewLockout: after a clock jump the client is refused
// even with honest assertions; a new eviction marker on its key record
// restores it with the next assertion.
func TestEvictionLiftsSkewLockout(t *testing.T) {
	g := NewWithT(t)
	f := newOAuthFixture(t, OAuthConfig{})
	k := f.issueWithMethods([]string{record.AuthClientAssertion}, "acme/payments/investigations:read")
	client := newECKey(t)
	f.putClient(client.Public(), k.key.ID(), "")
	reason := func(iat time.Time, jti string) Reason {
		w := f.forward(assertionFor(t, client, k.key.ID(), iat, jti), "/acme/payments/investigations/INV-7")
		if w.Code == http.StatusOK {
			return ReasonAllowed
		}
		var body denialBody
		g.Expect(json.Unmarshal(w.Body.Bytes(), &body)).To(Succeed())
		return body.Reason
	}
	g.Expect(reason(t0, "a")).To(Equal(ReasonAllowed))
	f.clock.Step(time.Minute)
	g.Expect(reason(t0.Add(-3*time.Minute), "b")).To(Equal(ReasonClientClockSkew))
	// Locked out: the clock is right again, the client is still refused.
	g.Expect(reason(f.clock.Now(), "c")).To(Equal(ReasonClientClockSkew))

	f.putClient(client.Public(), k.key.ID(), "evicted-1")
	g.Expect(reason(f.clock.Now(), "d")).To(Equal(ReasonAllowed))
	// Eviction also forgot the jti values: the admin's "delete the
	// signature session", and why it is for trusted keys only.
	g.Expect(reason(f.clock.Now(), "a")).To(Equal(ReasonAllowed))
	g.Expect(reason(f.clock.Now(), "a")).To(Equal(ReasonAssertionReplayed))
}

// TestAssertionAudiences: as a bearer credential an assertion must name
// the issuer; at the token endpoint it may name the token endpoint instead
// (RFC 7523 §3). An assertion addressed to the token endpoint is never a
// bearer credential, not even when it names the issuer as well.
func TestAssertionAudiences(t *testing.T) {
	f, srv := served(t)
	f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
	k := f.issueWithMethods([]string{record.AuthClientAssertion}, "acme/payments/investigations:read")
	client := newECKey(t)
	f.putClient(client.Public(), k.key.ID(), "")
	issuer, endpoint := srv.URL, srv.URL+TokenPath
	for i, tc := range []struct {
		aud    []string
		bearer Reason
		token  int
	}{
		{[]string{issuer}, ReasonAllowed, http.StatusOK},
		{[]string{endpoint}, ReasonTokenAudience, http.StatusOK},
		{[]string{issuer, endpoint}, ReasonTokenAudience, http.StatusOK},
		{[]string{"https://elsewhere.example.com"}, ReasonTokenAudience, http.StatusUnauthorized},
	} {
		g := NewWithT(t)
		claims := func(use string) token.Claims {
			c := assertionClaims(k.key.ID(), t0, fmt.Sprint(use, i), "")
			c.Audience = tc.aud
			return c
		}
		d := f.v.Decide(context.Background(), Request{Credential: sign(t, client, claims("bearer")),
			Resource: scope.Resource{Org: "acme", Project: "payments", Type: "investigations"}, Action: scope.Read})
		g.Expect(d.Reason).To(Equal(tc.bearer), "bearer, aud %v", tc.aud)
		status, _, body := postToken(t, srv, url.Values{
			"grant_type": {"client_credentials"}, "client_assertion_type": {jwtBearerAssertion},
			"client_assertion": {sign(t, client, claims("token"))},
		}, "", "")
		g.Expect(status).To(Equal(tc.token), "token endpoint, aud %v: %v", tc.aud, body["error_description"])
	}
}
