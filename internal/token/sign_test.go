package token

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestNewSignerPicksTheAlgorithmFromTheKey(t *testing.T) {
	testKeys(t)
	small := smallRSAKey()
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		kid     string
		key     crypto.Signer
		wantAlg string
		wantErr string
	}{
		{"RSA 2048", "k", rsaKey, RS256, ""},
		{"P-256", "k", ecKey, ES256, ""},
		{"RSA 1024", "k", small, "", "at least 2048 bits"},
		{"P-384", "k", p384Key, "", "P-256"},
		{"Ed25519", "k", edKey, "", "unsupported"},
		{"no kid", "", rsaKey, "", "kid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			s, err := NewSigner(tc.kid, tc.key)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.Algorithm()).To(Equal(tc.wantAlg))
			g.Expect(s.KeyID()).To(Equal(tc.kid))
		})
	}
}

func TestSignWritesTheHeader(t *testing.T) {
	g := NewWithT(t)
	testKeys(t)
	for _, s := range []Signer{mustSigner(t, "rsa-1", rsaKey), mustSigner(t, "ec-1", ecKey)} {
		raw := mustSign(t, s, baseClaims())
		h, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
		g.Expect(err).NotTo(HaveOccurred())
		var header map[string]any
		g.Expect(json.Unmarshal(h, &header)).To(Succeed())
		g.Expect(header).To(Equal(map[string]any{"alg": s.Algorithm(), "kid": s.KeyID(), "typ": "JWT"}))
	}
}

func TestSignFillsAFreshJTI(t *testing.T) {
	g := NewWithT(t)
	testKeys(t)
	s := mustSigner(t, "ec-1", ecKey)
	v := testValidator(t)
	seen := map[string]bool{}
	for range 20 {
		c := baseClaims()
		c.ID = ""
		got, err := v.Validate(mustSign(t, s, c), t0)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got.ID).To(HaveLen(22))
		g.Expect(seen).NotTo(HaveKey(got.ID))
		seen[got.ID] = true
	}
}

func TestSignRefusesTokensNoValidatorWouldAccept(t *testing.T) {
	testKeys(t)
	tests := []struct {
		name    string
		signer  Signer
		edit    func(*Claims)
		wantErr string
	}{
		{"zero signer", Signer{}, func(*Claims) {}, "zero Signer"},
		{"no exp", mustSigner(t, "k", ecKey), func(c *Claims) { c.Expiry = time.Time{} }, "exp"},
		{"no iss", mustSigner(t, "k", ecKey), func(c *Claims) { c.Issuer = "" }, "iss"},
		{"no aud", mustSigner(t, "k", ecKey), func(c *Claims) { c.Audience = nil }, "aud"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			c := baseClaims()
			tc.edit(&c)
			_, err := Sign(tc.signer, c)
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
		})
	}
}

func TestClaimsJSON(t *testing.T) {
	tests := []struct {
		name string
		in   Claims
		want string
	}{
		{"one audience is a string", Claims{Issuer: "i", Audience: []string{"a"}, Expiry: t0},
			`{"iss":"i","aud":"a","exp":1772366400}`},
		{"several audiences are a list", Claims{Audience: []string{"a", "b"}},
			`{"aud":["a","b"]}`},
		{"every claim", baseClaims(),
			`{"iss":"` + testIssuer + `","sub":"team-a/3kq7vx0m2n4p6r8t","aud":"` + testAudience +
				`","exp":1772367000,"nbf":1772366400,"iat":1772366400,"jti":"jti-1","scope":"org:acme/project:x read"}`},
		{"nothing", Claims{}, `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			b, err := json.Marshal(tc.in)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(b)).To(MatchJSON(tc.want))
			var back Claims
			g.Expect(json.Unmarshal(b, &back)).To(Succeed())
			g.Expect(back).To(Equal(tc.in))
		})
	}
}

func TestClaimsJSONDecoding(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Claims
		wantErr bool
	}{
		{"fractional seconds round down", `{"exp":1772366400.9}`, Claims{Expiry: t0}, false},
		{"null claims are absent", `{"exp":null,"aud":null}`, Claims{}, false},
		{"negative date", `{"exp":-1}`, Claims{}, true},
		{"date past 9999", `{"iat":253402300800}`, Claims{}, true},
		{"date as string", `{"nbf":"1772366400"}`, Claims{}, true},
		{"audience list of numbers", `{"aud":[1,2]}`, Claims{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var c Claims
			err := json.Unmarshal([]byte(tc.in), &c)
			if tc.wantErr {
				g.Expect(err).To(HaveOccurred())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(c).To(Equal(tc.want))
		})
	}
}

func TestSignerPublishesItsPublicKey(t *testing.T) {
	g := NewWithT(t)
	testKeys(t)
	jwk, err := mustSigner(t, "ec-1", ecKey).PublicJWK()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(jwk.IsPublic()).To(BeTrue())
	g.Expect(jwk.KeyID).To(Equal("ec-1"))
	g.Expect(jwk.Algorithm).To(Equal(ES256))
	_, err = Signer{}.PublicJWK()
	g.Expect(err).To(HaveOccurred())
}
