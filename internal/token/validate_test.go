package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	. "github.com/onsi/gomega"
)

func TestValidate(t *testing.T) {
	testKeys(t)
	rsaSigner := mustSigner(t, "rsa-1", rsaKey)
	ecSigner := mustSigner(t, "ec-1", ecKey)
	with := func(edit func(*Claims)) Claims {
		c := baseClaims()
		edit(&c)
		return c
	}
	pemPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey))})
	hs256 := func(secret []byte) func([]byte) []byte {
		return func(in []byte) []byte {
			m := hmac.New(sha256.New, secret)
			m.Write(in)
			return m.Sum(nil)
		}
	}
	payload := mustJSON(t, baseClaims())
	valid := mustSign(t, rsaSigner, baseClaims())
	parts := strings.Split(valid, ".")

	tests := []struct {
		name   string
		raw    string
		now    time.Time
		edit   func(*Validator)
		reason Reason // empty: valid
	}{
		{name: "RS256", raw: valid, now: t0},
		{name: "ES256", raw: mustSign(t, ecSigner, baseClaims()), now: t0},
		{name: "one of several audiences", raw: mustSign(t, rsaSigner, with(func(c *Claims) {
			c.Audience = []string{"other", testAudience}
		})), now: t0},
		{name: "audience list without ours", raw: mustSign(t, rsaSigner, with(func(c *Claims) {
			c.Audience = []string{"other", "another"}
		})), now: t0, reason: ReasonBadAudience},
		{name: "single other audience", raw: mustSign(t, rsaSigner, with(func(c *Claims) {
			c.Audience = []string{testAudience + "/"}
		})), now: t0, reason: ReasonBadAudience},
		{name: "other issuer", raw: mustSign(t, rsaSigner, with(func(c *Claims) { c.Issuer = "https://evil.example" })),
			now: t0, reason: ReasonBadIssuer},

		{name: "exp within leeway", raw: valid, now: t0.Add(10*time.Minute + 29*time.Second)},
		{name: "exp at leeway", raw: valid, now: t0.Add(10*time.Minute + 30*time.Second), reason: ReasonExpired},
		{name: "exp without leeway", raw: valid, now: t0.Add(10 * time.Minute),
			edit: func(v *Validator) { v.Leeway = 0 }, reason: ReasonExpired},
		{name: "nbf at leeway", raw: valid, now: t0.Add(-30 * time.Second)},
		{name: "nbf beyond leeway", raw: mustSign(t, rsaSigner, with(func(c *Claims) { c.IssuedAt = time.Time{} })),
			now: t0.Add(-31 * time.Second), reason: ReasonNotYetValid},
		{name: "iat beyond leeway", raw: mustSign(t, rsaSigner, with(func(c *Claims) { c.NotBefore = time.Time{} })),
			now: t0.Add(-31 * time.Second), reason: ReasonNotYetValid},
		{name: "no exp", raw: signWith(t, jose.RS256, rsaKey, "rsa-1",
			mustJSON(t, map[string]any{"iss": testIssuer, "aud": testAudience}), nil), now: t0, reason: ReasonMalformed},

		{name: "unknown kid", raw: mustSign(t, mustSigner(t, "rsa-2", rsaKey), baseClaims()), now: t0, reason: ReasonUnknownKID},
		{name: "no kid", raw: signWith(t, jose.RS256, rsaKey, "", payload, nil), now: t0, reason: ReasonUnknownKID},
		{name: "unpublished kid", raw: mustSign(t, mustSigner(t, "rsa-pending", otherRSAKey), baseClaims()),
			now: t0, reason: ReasonUnknownKID},
		{name: "other key under a known kid", raw: mustSign(t, mustSigner(t, "rsa-1", otherRSAKey), baseClaims()),
			now: t0, reason: ReasonBadSignature},
		{name: "payload swapped", raw: parts[0] + "." + b64(mustJSON(t, with(func(c *Claims) { c.Scope = "admin" }))) + "." + parts[2],
			now: t0, reason: ReasonBadSignature},
		{name: "signature stripped", raw: parts[0] + "." + parts[1] + ".", now: t0, reason: ReasonBadSignature},
		{name: "embedded jwk is not trusted", raw: signWith(t, jose.RS256, otherRSAKey, "rsa-1", payload,
			map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: &otherRSAKey.PublicKey}}), now: t0, reason: ReasonBadSignature},

		{name: "alg none", raw: handMade(t, map[string]any{"alg": "none", "kid": "rsa-1"}, payload,
			func([]byte) []byte { return nil }), now: t0, reason: ReasonAlgNotAllowed},
		{name: "HS256 keyed with the RSA public key", raw: handMade(t, map[string]any{"alg": "HS256", "kid": "rsa-1"}, payload,
			hs256(pemPub)), now: t0, reason: ReasonAlgNotAllowed},
		{name: "HS256 keyed with the RSA modulus", raw: handMade(t, map[string]any{"alg": "HS256", "kid": "rsa-1"}, payload,
			hs256(rsaKey.N.Bytes())), now: t0, reason: ReasonAlgNotAllowed},
		{name: "ES256 header on an RSA kid", raw: mustSign(t, mustSigner(t, "rsa-1", ecKey), baseClaims()),
			now: t0, reason: ReasonAlgNotAllowed},
		{name: "RS256 header on an EC kid", raw: mustSign(t, mustSigner(t, "ec-1", rsaKey), baseClaims()),
			now: t0, reason: ReasonAlgNotAllowed},
		{name: "RS384 is not on the list", raw: signWith(t, jose.RS384, rsaKey, "rsa-1", payload, nil),
			now: t0, reason: ReasonAlgNotAllowed},
		{name: "RS256 when only ES256 is allowed", raw: valid, now: t0,
			edit: func(v *Validator) { v.Algorithms = []string{ES256} }, reason: ReasonAlgNotAllowed},
		{name: "resolver pairs RS256 with an EC key", raw: signWith(t, jose.RS256, rsaKey, "ec-as-rsa", payload, nil),
			now: t0, reason: ReasonAlgNotAllowed},

		{name: "empty", raw: "", now: t0, reason: ReasonMalformed},
		{name: "two parts", raw: parts[0] + "." + parts[1], now: t0, reason: ReasonMalformed},
		{name: "not base64", raw: "!!.??.**", now: t0, reason: ReasonMalformed},
		{name: "JSON serialization", raw: `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`,
			now: t0, reason: ReasonMalformed},
		{name: "too large", raw: valid + strings.Repeat("A", MaxTokenSize), now: t0, reason: ReasonMalformed},
		{name: "claims not an object", raw: signWith(t, jose.RS256, rsaKey, "rsa-1", []byte(`["iss"]`), nil),
			now: t0, reason: ReasonMalformed},
		{name: "audience of the wrong type", raw: signWith(t, jose.RS256, rsaKey, "rsa-1",
			[]byte(`{"iss":"`+testIssuer+`","aud":7,"exp":1900000000}`), nil), now: t0, reason: ReasonMalformed},
		{name: "exp out of range", raw: signWith(t, jose.RS256, rsaKey, "rsa-1",
			[]byte(`{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":1e300}`), nil), now: t0, reason: ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			v := testValidator(t)
			if tc.edit != nil {
				tc.edit(v)
			}
			c, err := v.Validate(tc.raw, tc.now)
			if tc.reason == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(c.Issuer).To(Equal(testIssuer))
				return
			}
			var ve *ValidationError
			g.Expect(errors.As(err, &ve)).To(BeTrue(), "got %v", err)
			g.Expect(ve.Reason).To(Equal(tc.reason), ve.Error())
			g.Expect(c).To(BeZero())
			for _, part := range strings.Split(tc.raw, ".") {
				if len(part) > 8 {
					g.Expect(err.Error()).NotTo(ContainSubstring(part), "an error must not repeat the token")
				}
			}
		})
	}
}

func TestValidateReturnsTheSignedClaims(t *testing.T) {
	g := NewWithT(t)
	testKeys(t)
	want := baseClaims()
	want.Audience = []string{testAudience, "other"}
	got, err := testValidator(t).Validate(mustSign(t, mustSigner(t, "ec-1", ecKey), want), t0)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(want))
}

func TestValidateAcceptsAKeySetAsResolver(t *testing.T) {
	g := NewWithT(t)
	testKeys(t)
	var set KeySet
	g.Expect(set.Add("rsa-1", RS256, &rsaKey.PublicKey)).To(Succeed())
	v := testValidator(t)
	v.Keys = &set
	_, err := v.Validate(mustSign(t, mustSigner(t, "rsa-1", rsaKey), baseClaims()), t0)
	g.Expect(err).NotTo(HaveOccurred())
}

func TestValidatorRefusesToRunMisconfigured(t *testing.T) {
	testKeys(t)
	raw := mustSign(t, mustSigner(t, "rsa-1", rsaKey), baseClaims())
	tests := []struct {
		name string
		edit func(*Validator)
	}{
		{"no keys", func(v *Validator) { v.Keys = nil }},
		{"no issuer", func(v *Validator) { v.Issuer = "" }},
		{"no audience", func(v *Validator) { v.Audience = "" }},
		{"no algorithms", func(v *Validator) { v.Algorithms = nil }},
		{"HS256 allowed", func(v *Validator) { v.Algorithms = []string{RS256, "HS256"} }},
		{"none allowed", func(v *Validator) { v.Algorithms = []string{"none"} }},
		{"negative leeway", func(v *Validator) { v.Leeway = -time.Second }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			v := testValidator(t)
			tc.edit(v)
			_, err := v.Validate(raw, t0)
			g.Expect(err).To(MatchError(ErrMisconfigured))
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
