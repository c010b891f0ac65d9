package verifier

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/token"
)

// BenchmarkForwardAuthJWTCached is BenchmarkForwardAuthCached with an
// access token the verifier validated before: no signature check, only the
// cache, the record and the scopes.
func BenchmarkForwardAuthJWTCached(b *testing.B) {
	f := newOAuthFixture(&testing.T{}, OAuthConfig{})
	key := testRSAKey(b, 0)
	f.putIssuer(key, t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
	k := f.issueWithMethods([]string{record.AuthClientCredentials}, "acme/payments/investigations:read")
	raw := sign(b, key, token.Claims{
		Issuer: testIssuer, Subject: k.key.ID(), Audience: []string{testIssuer},
		IssuedAt: t0, NotBefore: t0, Expiry: t0.Add(5 * time.Minute), Scope: "acme/payments/investigations:read",
	})
	r := httptest.NewRequest(http.MethodGet, EnvoyPrefix+"/acme/payments/investigations/INV-7", nil)
	r.Header.Set("Authorization", "Bearer "+raw)
	servePermitted(b, f.handler, r)
}
