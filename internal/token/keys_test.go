package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"

	. "github.com/onsi/gomega"
)

func TestPublicJWK(t *testing.T) {
	testKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		kid, alg string
		key      crypto.PublicKey
		wantKeys []string
		wantErr  string
	}{
		{"RSA", "rsa-1", RS256, &rsaKey.PublicKey, []string{"kty", "kid", "use", "alg", "n", "e"}, ""},
		{"EC", "ec-1", ES256, &ecKey.PublicKey, []string{"kty", "kid", "use", "alg", "crv", "x", "y"}, ""},
		{"RSA private key", "rsa-1", RS256, rsaKey, nil, "unsupported"},
		{"EC private key", "ec-1", ES256, ecKey, nil, "unsupported"},
		{"RSA key as ES256", "rsa-1", ES256, &rsaKey.PublicKey, nil, "does not fit"},
		{"EC key as RS256", "ec-1", RS256, &ecKey.PublicKey, nil, "does not fit"},
		{"HS256", "rsa-1", "HS256", &rsaKey.PublicKey, nil, "does not fit"},
		{"small RSA", "rsa-1", RS256, &small.PublicKey, nil, "2048"},
		{"P-384", "ec-1", ES256, &p384Key.PublicKey, nil, "P-256"},
		{"no kid", "", RS256, &rsaKey.PublicKey, nil, "kid"},
		{"nil key", "k", RS256, (*rsa.PublicKey)(nil), nil, "2048"},
		{"nil EC key", "k", ES256, (*ecdsa.PublicKey)(nil), nil, "P-256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			jwk, err := PublicJWK(tc.kid, tc.alg, tc.key)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			var fields map[string]any
			g.Expect(json.Unmarshal(mustJSON(t, jwk), &fields)).To(Succeed())
			g.Expect(fields).To(HaveLen(len(tc.wantKeys)))
			for _, k := range tc.wantKeys {
				g.Expect(fields).To(HaveKey(k))
			}
			g.Expect(fields["use"]).To(Equal("sig"))
			g.Expect(fields["alg"]).To(Equal(tc.alg))
			g.Expect(fields["kid"]).To(Equal(tc.kid))
		})
	}
}

func TestKeySetJSON(t *testing.T) {
	g := NewWithT(t)
	testKeys(t)

	var empty KeySet
	g.Expect(string(mustJSON(t, empty))).To(Equal(`{"keys":[]}`))

	var set KeySet
	g.Expect(set.Add("rsa-1", RS256, &rsaKey.PublicKey)).To(Succeed())
	g.Expect(set.Add("ec-1", ES256, &ecKey.PublicKey)).To(Succeed())
	g.Expect(set.Add("rsa-1", RS256, &otherRSAKey.PublicKey)).To(MatchError(ContainSubstring("already")))
	g.Expect(set.Len()).To(Equal(2))

	b := mustJSON(t, set)
	g.Expect(string(b)).NotTo(ContainSubstring(`"d"`))
	var back KeySet
	g.Expect(json.Unmarshal(b, &back)).To(Succeed())
	g.Expect(back.Len()).To(Equal(2))
	k, ok := back.ResolveKey("ec-1")
	g.Expect(ok).To(BeTrue())
	g.Expect(k.Algorithm).To(Equal(ES256))
	g.Expect(k.Published).To(BeTrue())
	g.Expect(k.Key.(*ecdsa.PublicKey).Equal(&ecKey.PublicKey)).To(BeTrue())
	_, ok = back.ResolveKey("nope")
	g.Expect(ok).To(BeFalse())
}

func TestKeySetRefusesWhatItWouldNotPublish(t *testing.T) {
	testKeys(t)
	pub := func(alg, use string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(mustJSON(t, must(PublicJWK("rsa-1", RS256, &rsaKey.PublicKey))), &m); err != nil {
			t.Fatal(err)
		}
		m["alg"], m["use"] = alg, use
		if alg == "" {
			delete(m, "alg")
		}
		return m
	}
	private := map[string]any{}
	if err := json.Unmarshal(mustJSON(t, jwkOf(ecKey, "ec-1", ES256)), &private); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		keys []any
	}{
		{"no alg", []any{pub("", "sig")}},
		{"alg none", []any{pub("none", "sig")}},
		{"encryption key", []any{pub(RS256, "enc")}},
		{"private key", []any{private}},
		{"duplicate kid", []any{pub(RS256, "sig"), pub(RS256, "sig")}},
		{"not a key", []any{map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var set KeySet
			err := json.Unmarshal(mustJSON(t, map[string]any{"keys": tc.keys}), &set)
			g.Expect(err).To(HaveOccurred())
			g.Expect(set.Len()).To(BeZero())
		})
	}
}
