package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/fips140"
	"crypto/rsa"
	"encoding/json"
	"testing"

	. "github.com/onsi/gomega"
)

func TestPublicJWK(t *testing.T) {
	testKeys(t)
	small := smallRSAKey()
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

// In FIPS mode a key the module would refuse at every verification is
// refused when it is published or enrolled, with FIPS mode named in the
// error; outside FIPS mode the same key passes (make test runs this package
// both ways).
func TestFIPSModeRefusesKeysTheModuleCannotUse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		key     rsa.PublicKey
		fipsErr string
	}{
		{"exponent 3", rsaPublicKey(2048, 3), "an RSA key with public exponent 3; FIPS mode needs an odd exponent above 65536"},
		{"odd size", rsaPublicKey(2049, 65537), "an RSA key of 2049 bits, an odd size, which FIPS mode does not allow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var set KeySet
			err := set.Add("client-1", RS256, &tc.key)
			if fips140.Enabled() {
				g.Expect(err).To(MatchError(ContainSubstring(tc.fipsErr)))
				g.Expect(set.Len()).To(BeZero())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(set.Len()).To(Equal(1))
		})
	}
}
