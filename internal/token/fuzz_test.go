package token

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzValidate: no input panics, every refusal is a *ValidationError that
// does not repeat the input, and nothing validates except the claims that
// were really signed (base64 slack may spell the same token differently).
func FuzzValidate(f *testing.F) {
	testKeys(f)
	signed := baseClaims()
	valid := mustSign(f, mustSigner(f, "rsa-1", rsaKey), signed)
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid,
		mustSign(f, mustSigner(f, "ec-1", ecKey), signed),
		mustSign(f, mustSigner(f, "rsa-1", otherRSAKey), signed),
		parts[0] + "." + parts[1] + ".",
		"eyJhbGciOiJub25lIn0." + parts[1] + ".",
		"", ".", "..", "a.b.c", "{}", `{"payload":"","signatures":[]}`,
	} {
		f.Add(seed)
	}
	v := testValidator(f)
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Validate(raw, t0)
		if err == nil {
			if !reflect.DeepEqual(c, signed) {
				t.Fatalf("validated a token that was never signed: %q", raw)
			}
			return
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("error %T %v is not a *ValidationError", err, err)
		}
		if len(raw) > 16 && strings.Contains(err.Error(), raw) {
			t.Fatalf("error repeats the token: %v", err)
		}
	})
}
