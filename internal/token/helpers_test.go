package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// RSA key generation dominates the package's run time, so each key is made
// once per test binary.
var (
	keysOnce              sync.Once
	rsaKey, otherRSAKey   *rsa.PrivateKey
	ecKey, otherECKey     *ecdsa.PrivateKey
	p384Key               *ecdsa.PrivateKey
	testKeysGenerationErr error
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var errs [5]error
		rsaKey, errs[0] = rsa.GenerateKey(rand.Reader, 2048)
		otherRSAKey, errs[1] = rsa.GenerateKey(rand.Reader, 2048)
		ecKey, errs[2] = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		otherECKey, errs[3] = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p384Key, errs[4] = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		for _, err := range errs {
			if err != nil {
				testKeysGenerationErr = err
			}
		}
	})
	if testKeysGenerationErr != nil {
		t.Fatal(testKeysGenerationErr)
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testIssuer   = "https://verifier.keyward.example"
	testAudience = "https://api.keyward.example"
)

func baseClaims() Claims {
	return Claims{
		Issuer:    testIssuer,
		Subject:   "team-a/3kq7vx0m2n4p6r8t",
		Audience:  []string{testAudience},
		IssuedAt:  t0,
		NotBefore: t0,
		Expiry:    t0.Add(10 * time.Minute),
		ID:        "jti-1",
		Scope:     "org:acme/project:x read",
	}
}

func mustSigner(t testing.TB, kid string, key crypto.Signer) Signer {
	t.Helper()
	s, err := NewSigner(kid, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSign(t testing.TB, s Signer, c Claims) string {
	t.Helper()
	raw, err := Sign(s, c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// signWith signs an arbitrary payload under an arbitrary header, for tokens
// Sign would refuse to make.
func signWith(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, payload []byte, extra map[jose.HeaderKey]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// handMade assembles a compact JWS without go-jose, for headers it would
// refuse to produce.
func handMade(t testing.TB, header map[string]any, payload []byte, sign func(input []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(h) + "." + b64(payload)
	return input + "." + b64(sign([]byte(input)))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testResolver(t testing.TB) KeyResolverFunc {
	testKeys(t)
	keys := map[string]ResolvedKey{
		"rsa-1":       {Key: &rsaKey.PublicKey, Algorithm: RS256, Published: true},
		"ec-1":        {Key: &ecKey.PublicKey, Algorithm: ES256, Published: true},
		"rsa-pending": {Key: &otherRSAKey.PublicKey, Algorithm: RS256, Published: false},
		"ec-as-rsa":   {Key: &ecKey.PublicKey, Algorithm: RS256, Published: true},
	}
	return func(kid string) (ResolvedKey, bool) {
		k, ok := keys[kid]
		return k, ok
	}
}

func testValidator(t testing.TB) *Validator {
	return &Validator{
		Keys:       testResolver(t),
		Issuer:     testIssuer,
		Audience:   testAudience,
		Leeway:     30 * time.Second,
		Algorithms: []string{RS256, ES256},
	}
}

func jwkOf(key any, kid, alg string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: "sig"}
}

// smallRSAKey is an RSA key of 1024 bits that only says its size: the
// checks under test read nothing else, and generating a real one is
// refused under GODEBUG=fips140=only, where make test also runs this
// package.
func smallRSAKey() *rsa.PrivateKey {
	return &rsa.PrivateKey{PublicKey: rsaPublicKey(1024, 65537)}
}

// rsaPublicKey is a public key of the given size and exponent whose
// modulus is no product of primes, for checks of size and exponent only.
func rsaPublicKey(bits, e int) rsa.PublicKey {
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	return rsa.PublicKey{N: n.Add(n, big.NewInt(1)), E: e}
}
