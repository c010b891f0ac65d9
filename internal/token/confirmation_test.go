package token

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	. "github.com/onsi/gomega"
)

const testThumbprint = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"

// TestConfirmationRoundTrip: a bound token carries cnf.x5t#S256 on the
// wire (RFC 8705 §3.1) and the validator returns it; an unbound one has
// no cnf at all.
func TestConfirmationRoundTrip(t *testing.T) {
	g := NewWithT(t)
	testKeys(t)
	s := mustSigner(t, "ec-1", ecKey)
	bound := baseClaims()
	bound.CertThumbprint = testThumbprint
	raw := mustSign(t, s, bound)

	payload := payloadOf(t, raw)
	g.Expect(payload).To(HaveKeyWithValue("cnf", map[string]any{"x5t#S256": testThumbprint}))
	got, err := testValidator(t).Validate(raw, t0)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.CertThumbprint).To(Equal(testThumbprint))

	unbound := mustSign(t, s, baseClaims())
	g.Expect(payloadOf(t, unbound)).NotTo(HaveKey("cnf"))
	got, err = testValidator(t).Validate(unbound, t0)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.CertThumbprint).To(BeEmpty())
}

// TestConfirmationOtherThanX5TIsRefused: a token confirmed by a key (jkt,
// jwk) or with a cnf this package cannot read would pass as a plain
// bearer token if the member were ignored, so it is refused.
func TestConfirmationOtherThanX5TIsRefused(t *testing.T) {
	testKeys(t)
	for name, cnf := range map[string]string{
		"jkt only":           `{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}`,
		"x5t and jkt":        `{"x5t#S256":"` + testThumbprint + `","jkt":"abc"}`,
		"x5t not a string":   `{"x5t#S256":42}`,
		"x5t empty":          `{"x5t#S256":""}`,
		"not an object":      `"` + testThumbprint + `"`,
		"empty object":       `{}`,
		"x5t (SHA-1) member": `{"x5t":"abc"}`,
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			claims := map[string]json.RawMessage{}
			g.Expect(json.Unmarshal(mustJSON(t, baseClaims()), &claims)).To(Succeed())
			claims["cnf"] = json.RawMessage(cnf)
			raw := signWith(t, jose.ES256, ecKey, "ec-1", mustJSON(t, claims), nil)
			_, err := testValidator(t).Validate(raw, t0)
			var ve *ValidationError
			g.Expect(err).To(BeAssignableToTypeOf(ve))
			g.Expect(err.(*ValidationError).Reason).To(Equal(ReasonMalformed))
			g.Expect(err.Error()).To(ContainSubstring("only a string x5t#S256 is supported"))
		})
	}
}

func payloadOf(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
