package verifier

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/record"
)

// Attack: the signing-key watch stalls and an issuer key is withdrawn
// meanwhile. Past the staleness bound, everything that rests on the
// signing keys stops: tokens are Indeterminate, the token endpoint and the
// JWKS answer 503 and /readyz names the signing-key watch. API keys, whose
// records are current, are still decided.
func TestStaleSigningKeysStopTokensNotKeys(t *testing.T) {
	g := NewWithT(t)
	var signingContact time.Time
	f := newOAuthFixture(t, OAuthConfig{TokenLifetimeSeconds: 3600}, func(o *Options) {
		o.MaxStaleness = time.Minute
		o.SigningLastContact = func() time.Time { return signingContact }
	})
	signingContact = f.clock.Now()
	f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
	k := f.issueWithMethods([]string{record.AuthAPIKey, record.AuthClientCredentials}, "acme/payments/investigations:read")
	tok := f.mintToken(g, k.key.ID(), k.key.Plaintext())
	g.Expect(f.decide(tok, inScope, access.Environment{}).Reason).To(Equal(ReasonAllowed))

	get := func(path string) (int, string) {
		w := httptest.NewRecorder()
		f.handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code, w.Body.String()
	}
	readyz := func() (int, string) {
		w := httptest.NewRecorder()
		f.v.HealthHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return w.Code, w.Body.String()
	}
	tokenEndpoint := func() int {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {k.key.ID()}, "client_secret": {k.key.Plaintext()}}
		r := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		f.handler.ServeHTTP(w, r)
		return w.Code
	}

	// Within the bound the verifier decides from what it knows.
	f.clock.Step(time.Minute)
	g.Expect(f.decide(tok, inScope, access.Environment{}).Reason).To(Equal(ReasonAllowed))
	code, _ := readyz()
	g.Expect(code).To(Equal(http.StatusOK))

	f.clock.Step(time.Second)
	d := f.decide(tok, inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Indeterminate))
	g.Expect(d.Reason).To(Equal(ReasonStale))
	g.Expect(d.Message).To(ContainSubstring("signing keys"))
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Reason).To(Equal(ReasonAllowed), "the records are current")
	code, text := readyz()
	g.Expect(code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(text).To(ContainSubstring("signing-key watch"))
	code, _ = get(JWKSPath)
	g.Expect(code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(tokenEndpoint()).To(Equal(http.StatusServiceUnavailable))

	// Known current again: all of it is back.
	signingContact = f.clock.Now()
	g.Expect(f.decide(tok, inScope, access.Environment{}).Reason).To(Equal(ReasonAllowed))
	code, _ = readyz()
	g.Expect(code).To(Equal(http.StatusOK))
	code, _ = get(JWKSPath)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(tokenEndpoint()).To(Equal(http.StatusOK))
}
