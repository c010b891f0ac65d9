package verifier

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/scope"
	"github.com/keyward-dev/keyward/internal/testutil"
)

func assertionForm(raw string) url.Values {
	return url.Values{
		"grant_type": {"client_credentials"}, "client_assertion_type": {jwtBearerAssertion}, "client_assertion": {raw},
	}
}

var readInvestigations = Request{Resource: scope.Resource{Org: "acme", Project: "payments", Type: "investigations"}, Action: scope.Read}

// TestAssertionOnlyForTheAPIKeyItWasEnrolledFor: a signing record names the
// key ID and the UID of the APIKey it was enrolled for. When the live
// record of that key ID belongs to another UID, the assertion is refused
// at the token endpoint and as a bearer credential, whatever it claims.
func TestAssertionOnlyForTheAPIKeyItWasEnrolledFor(t *testing.T) {
	g := NewWithT(t)
	f, srv := served(t)
	f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
	k := f.issueWithMethods([]string{record.AuthClientAssertion}, "acme/payments/investigations:read")
	client := newECKey(t)
	f.putClientFor(client.Public(), k.key.ID(), "uid-of-a-deleted-apikey", "")

	req := readInvestigations
	req.Credential = sign(t, client, assertionClaims(k.key.ID(), t0, "bearer", srv.URL))
	d := f.v.Decide(context.Background(), req)
	g.Expect(d.Result).To(Equal(Deny))
	g.Expect(d.Reason).To(Equal(ReasonAssertionNotEnrolled))
	g.Expect(f.forward(sign(t, client, assertionClaims(k.key.ID(), t0, "forward", srv.URL)), "/acme/payments/investigations/INV-7").Code).
		To(Equal(http.StatusUnauthorized))

	status, _, body := postToken(t, srv, assertionForm(sign(t, client, assertionClaims(k.key.ID(), t0, "token", srv.URL))), "", "")
	g.Expect(status).To(Equal(http.StatusUnauthorized))
	g.Expect(body).To(HaveKeyWithValue("error", "invalid_client"))
	g.Expect(body["error_description"]).To(ContainSubstring(string(ReasonAssertionNotEnrolled)))

	// Enrolled for the APIKey that holds the key ID, the same key works.
	f.putClient(client.Public(), k.key.ID(), "")
	status, _, body = postToken(t, srv, assertionForm(sign(t, client, assertionClaims(k.key.ID(), t0, "token-2", srv.URL))), "", "")
	g.Expect(status).To(Equal(http.StatusOK), "%v", body["error_description"])
}

// redisTokensFixture is a served OAuth fixture whose rate limits, and so
// whose assertion replay cache, live in a real redis-server.
func redisTokensFixture(t *testing.T, redis *testutil.RedisServer) (*oauthFixture, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	f := newOAuthFixture(t, OAuthConfig{Issuer: "http://" + srv.Listener.Addr().String()}, func(o *Options) {
		o.RateLimits = RateLimits{Store: storeRedis, Redis: &RedisConfig{Address: redis.Addr(), TimeoutMilliseconds: 200}}
	})
	srv.Config.Handler = f.handler
	srv.Start()
	t.Cleanup(srv.Close)
	return f, srv
}

// TestSharedReplayCacheInTheVerifier: with Redis configured a jti is
// refused the second time; an eviction starts a fresh set (the jti passes
// once more, as with the in-memory cache); and while Redis cannot be
// reached no assertion passes: 503 at the token endpoint, Indeterminate as
// a bearer credential.
func TestSharedReplayCacheInTheVerifier(t *testing.T) {
	g := NewWithT(t)
	redis := testutil.StartRedisServer(t)
	f, srv := redisTokensFixture(t, redis)
	base := srv.URL
	f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
	k := f.issueWithMethods([]string{record.AuthClientAssertion}, "acme/payments/investigations:read")
	client := newECKey(t)
	f.putClient(client.Public(), k.key.ID(), "")
	raw := sign(t, client, assertionClaims(k.key.ID(), t0, "once", base))

	status, _, body := postToken(t, srv, assertionForm(raw), "", "")
	g.Expect(status).To(Equal(http.StatusOK), "%v", body["error_description"])
	status, _, body = postToken(t, srv, assertionForm(raw), "", "")
	g.Expect(status).To(Equal(http.StatusUnauthorized))
	g.Expect(body["error_description"]).To(ContainSubstring(string(ReasonAssertionReplayed)))
	g.Expect(redis.Client().Keys(context.Background(), "keyward:jti:*").Val()).NotTo(BeEmpty(), "the jti is in Redis")

	f.putClient(client.Public(), k.key.ID(), "ticket-9")
	status, _, body = postToken(t, srv, assertionForm(raw), "", "")
	g.Expect(status).To(Equal(http.StatusOK), "after an eviction: %v", body["error_description"])

	redis.Stop()
	status, hdr, body := postToken(t, srv, assertionForm(sign(t, client, assertionClaims(k.key.ID(), t0, "outage", base))), "", "")
	g.Expect(status).To(Equal(http.StatusServiceUnavailable))
	g.Expect(body).To(HaveKeyWithValue("error", "temporarily_unavailable"))
	g.Expect(hdr.Get("Retry-After")).NotTo(BeEmpty())
	req := readInvestigations
	req.Credential = sign(t, client, assertionClaims(k.key.ID(), t0, "outage-bearer", base))
	d := f.v.Decide(context.Background(), req)
	g.Expect(d.Result).To(Equal(Indeterminate))
	g.Expect(d.Reason).To(Equal(ReasonReplayUnavailable))
}
