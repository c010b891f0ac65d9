package verifier

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/signingrecord"
	"github.com/keyward-dev/keyward/internal/token"
)

const (
	testIssuer        = "https://keyward.example.com"
	testTokenLifetime = 5 * time.Minute
	testOverlap       = 10 * time.Minute
)

// oauthFixture is a fixture whose verifier issues and accepts tokens,
// served by a real HTTP server.
type oauthFixture struct {
	*fixture
	signing *SigningKeys
	tokens  *Tokens
	handler http.Handler
}

func newOAuthFixture(t *testing.T, c OAuthConfig, with ...func(*Options)) *oauthFixture {
	t.Helper()
	if c.Issuer == "" {
		c.Issuer = testIssuer
	}
	keys := NewSigningKeys()
	// The clock exists before the verifier, so build the fixture by hand.
	base := newFixture(t, Options{})
	tokens, err := NewTokens(keys, c, base.clock)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Clock: base.clock, Tokens: tokens}
	for _, w := range with {
		w(&o)
	}
	v, err := New(base.index, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	base.v = v
	h, err := newTestHandler(v, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return &oauthFixture{fixture: base, signing: keys, tokens: tokens, handler: h}
}

// Generating RSA keys is slow; tests share a few.
var (
	rsaOnce sync.Once
	rsaKeys []*rsa.PrivateKey
)

func testRSAKey(t testing.TB, i int) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		for range 4 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys = append(rsaKeys, k)
		}
	})
	return rsaKeys[i]
}

func kidOf(t testing.TB, pub crypto.PublicKey) string {
	kid, err := signingrecord.KID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return kid
}

// putIssuer publishes an issuer key as the manager would.
func (f *oauthFixture) putIssuer(key crypto.Signer, publish, signFrom time.Time, signUntil, withdraw *time.Time) string {
	f.t.Helper()
	kid := kidOf(f.t, key.Public())
	alg := token.RS256
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		alg = token.ES256
	}
	jwk, err := signingrecord.PublicJWKJSON(kid, alg, key.Public())
	if err != nil {
		f.t.Fatal(err)
	}
	// A key that signs from its publication still announces the overlap
	// of the rotation that will replace it.
	ahead := testOverlap
	if d := signFrom.Sub(publish); d > 0 {
		ahead = d
	}
	rec := signingrecord.Record{
		Schema: signingrecord.Schema, KID: kid, Mode: signingrecord.Issuer, Algorithm: alg, PublicJWK: jwk,
		PublishAt: publish, SignFrom: signFrom, SignUntil: signUntil, WithdrawAt: withdraw,
		TokenLifetime: testTokenLifetime, PublishAhead: ahead, Version: 1,
	}
	b, err := signingrecord.Encode(rec)
	if err != nil {
		f.t.Fatal(err)
	}
	pem, err := signingrecord.EncodePrivateKey(key)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.signing.Put(signingrecord.SecretName(kid), map[string][]byte{
		signingrecord.DataKey: b, signingrecord.PrivateKeyDataKey: pem,
	}); err != nil {
		f.t.Fatal(err)
	}
	return kid
}

// putClient enrolls a client public key for a key ID, bound to the UID
// the fixture's records carry for it.
func (f *oauthFixture) putClient(pub crypto.PublicKey, keyID, eviction string) string {
	f.t.Helper()
	return f.putClientFor(pub, keyID, "uid-"+keyID, eviction)
}

// putClientFor enrolls a client public key for a key ID and an APIKey UID.
func (f *oauthFixture) putClientFor(pub crypto.PublicKey, keyID, apiKeyUID, eviction string) string {
	f.t.Helper()
	kid := kidOf(f.t, pub)
	alg := token.RS256
	if _, ok := pub.(*ecdsa.PublicKey); ok {
		alg = token.ES256
	}
	jwk, err := signingrecord.PublicJWKJSON(kid, alg, pub)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := signingrecord.Encode(signingrecord.Record{
		Schema: signingrecord.Schema, KID: kid, Mode: signingrecord.Client, Algorithm: alg, PublicJWK: jwk,
		KeyID: keyID, Owner: "team-fraud", APIKeyUID: apiKeyUID, Eviction: eviction, Version: 1,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.signing.Put(signingrecord.SecretName(kid), map[string][]byte{signingrecord.DataKey: b}); err != nil {
		f.t.Fatal(err)
	}
	return kid
}

// issueWithMethods publishes a key that may use the given auth methods.
func (f *oauthFixture) issueWithMethods(methods []string, scopes ...string) *issued {
	f.t.Helper()
	k := f.issue(scopes...)
	k.rec.AuthMethods = methods
	f.publish(k)
	return k
}

// sign mints a token with any claims, as an attacker holding key would.
func sign(t testing.TB, key crypto.Signer, c token.Claims) string {
	t.Helper()
	s, err := token.NewSigner(kidOf(t, key.Public()), key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := token.Sign(s, c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// forward asks the Envoy endpoint about a GET with a bearer credential.
func (f *oauthFixture) forward(cred, path string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, EnvoyPrefix+path, nil)
	r.Header.Set("Authorization", "Bearer "+cred)
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

func challengeError(w *httptest.ResponseRecorder) string {
	c := w.Header().Get("WWW-Authenticate")
	_, rest, ok := strings.Cut(c, `error="`)
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, `"`)
	return code
}

var bothMethods = []string{record.AuthAPIKey, record.AuthClientCredentials, record.AuthClientAssertion}
