package verifier

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// mintToken gets an access token with client credentials.
func (f *oauthFixture) mintToken(g *WithT, clientID, secret string) string {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}
	r := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	g.Expect(w.Code).To(Equal(http.StatusOK), w.Body.String())
	var resp tokenResponse
	g.Expect(json.Unmarshal(w.Body.Bytes(), &resp)).To(Succeed())
	return resp.AccessToken
}

// Attack: whoever found the published key minted an access token with it
// before the report. The leak suspends the key; the tenant rotates, which
// lifts the suspension; the thief's token must stay denied.
func TestAttackTokenMintedWithALeakedSecretDiesWithTheSuspension(t *testing.T) {
	g := NewWithT(t)
	f := newOAuthFixture(t, OAuthConfig{TokenLifetimeSeconds: 3600})
	f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
	k := f.issueWithMethods([]string{record.AuthAPIKey, record.AuthClientCredentials}, "acme/payments/investigations:read")
	stolen := f.mintToken(g, k.key.ID(), k.key.Plaintext())

	// The leak is reported a second later; the manager suspends the key
	// and invalidates the tokens issued before the report.
	f.clock.Step(time.Second)
	reportedAt := f.clock.Now()
	k.rec.State = record.Suspended
	k.rec.TokensNotBefore = &reportedAt
	k.rec.Version++
	f.publish(k)
	g.Expect(f.forward(stolen, "/acme/payments/investigations/INV-7").Code).To(Equal(http.StatusUnauthorized))

	// The tenant rotates: new secret, the leaked one dropped, active.
	fresh, _ := keys.Generate(k.key.ID())
	phc, _ := f.hash.Hash(fresh)
	k.rec.Secrets = []record.Secret{{Serial: "2", Hash: phc, NotBefore: f.clock.Now()}}
	k.rec.State = record.Active
	k.rec.Version++
	f.publish(k)
	f.clock.Step(time.Minute)
	w := f.forward(stolen, "/acme/payments/investigations/INV-7")
	g.Expect(w.Code).To(Equal(http.StatusUnauthorized), "a token minted with the leaked secret works again after the rotation")

	// A token got with the new secret is issued after the report.
	g.Expect(f.forward(f.mintToken(g, k.key.ID(), fresh.Plaintext()), "/acme/payments/investigations/INV-7").Code).To(Equal(http.StatusOK))
}

// A record written before TokensNotBefore existed decodes with none.
func TestRecordWithoutTokensNotBeforeInvalidatesNoToken(t *testing.T) {
	g := NewWithT(t)
	f := newOAuthFixture(t, OAuthConfig{TokenLifetimeSeconds: 3600})
	f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
	k := f.issueWithMethods([]string{record.AuthAPIKey, record.AuthClientCredentials}, "acme/payments/investigations:read")
	b, err := record.Encode(k.rec)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(b)).NotTo(ContainSubstring("tokensNotBefore"))
	tok := f.mintToken(g, k.key.ID(), k.key.Plaintext())
	g.Expect(f.forward(tok, "/acme/payments/investigations/INV-7").Code).To(Equal(http.StatusOK))
}
