package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
)

// A foreign key is a key imported from another system in that system's
// format (docs/import.md): its holders keep presenting it unchanged, so
// it carries no key ID. It is bound to a fresh keyward key ID, and the
// verifier finds its record by a lookup ID instead: an HMAC-SHA256 of the
// credential under a lookup key only keyward holds.

// Bounds of a foreign key's form. The upper bound keeps the HMAC and the
// PBKDF2 input small; the lower one keeps guessable tokens out.
const (
	ForeignMinLength = 20
	ForeignMaxLength = 256
	// ForeignForm says, in every refusal, what a foreign key may look like.
	ForeignForm = "20 to 256 printable ASCII characters without spaces or commas, " +
		`not starting with "` + Prefix + `" and not of the form of a JWT (two dots)`
)

// ValidateForeign reports whether s may be a foreign key. Everything that
// starts with keyward's prefix is keyward's, checked by Parse and never
// looked up as foreign; a JWT's form belongs to the verifier's JWT path.
// Commas and spaces are refused because a credential header holding them
// is malformed (one credential per header). Errors never contain s.
func ValidateForeign(s string) error {
	switch {
	case len(s) < ForeignMinLength || len(s) > ForeignMaxLength:
		return fmt.Errorf("a foreign key has %d characters; it must be %s", len(s), ForeignForm)
	case strings.HasPrefix(s, Prefix):
		return errors.New(`a key starting with "` + Prefix + `" is in keyward's format and must have its checksum`)
	case LooksLikeJWT(s):
		return errors.New("a foreign key must not have the form of a JWT (two dots)")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == ',' {
			return fmt.Errorf("a foreign key has a character outside its form at position %d; it must be %s", i+1, ForeignForm)
		}
	}
	return nil
}

// Foreign returns the foreign key s bound to keyward key ID id. Its
// Plaintext is s itself, so hashing, fingerprints and verification treat
// it like any key.
func Foreign(id, s string) (Key, error) {
	if err := ValidateID(id); err != nil {
		return Key{}, err
	}
	if err := ValidateForeign(s); err != nil {
		return Key{}, err
	}
	return Key{id: id, foreign: s}, nil
}

// IsForeign reports whether the key is in another system's format.
func (k Key) IsForeign() bool { return k.foreign != "" }

// LookupKeyLength is the size of the lookup key's secret.
const LookupKeyLength = 32

// LookupIDLength is the length of a lookup ID: 80 bits of the MAC, enough
// that records never collide by chance.
const LookupIDLength = 16

var lookupEncoding = base32.NewEncoding(idAlphabet).WithPadding(base32.NoPadding)

// LookupKey computes lookup IDs. Its secret never leaves it: every
// formatting path shows only that it is redacted.
type LookupKey struct{ secret []byte }

// NewLookupKey returns a LookupKey for a secret of LookupKeyLength bytes.
func NewLookupKey(secret []byte) (*LookupKey, error) {
	if len(secret) != LookupKeyLength {
		return nil, fmt.Errorf("a lookup key needs %d bytes, not %d", LookupKeyLength, len(secret))
	}
	return &LookupKey{secret: append([]byte(nil), secret...)}, nil
}

// ID returns the lookup ID of credential s: the first 16 base32
// characters (keyward's key-ID alphabet) of HMAC-SHA256(lookup key, s).
func (l *LookupKey) ID(s string) string {
	m := hmac.New(sha256.New, l.secret)
	m.Write([]byte(s))
	return lookupEncoding.EncodeToString(m.Sum(nil))[:LookupIDLength]
}

// Equal reports whether two lookup keys have the same secret.
func (l *LookupKey) Equal(o *LookupKey) bool {
	return l != nil && o != nil && hmac.Equal(l.secret, o.secret)
}

// String keeps the secret out of logs and errors.
func (l *LookupKey) String() string { return "keys.LookupKey{redacted}" }

// GoString keeps %#v from printing the secret.
func (l *LookupKey) GoString() string { return l.String() }

// ValidLookupID reports whether s has the form of a lookup ID.
func ValidLookupID(s string) bool { return len(s) == LookupIDLength && within(s, &idSet) }

// ParseFor reads a plaintext that should be a key of key ID id, in either
// format: a keyward key of that ID, or a foreign key, which carries no ID
// and is taken as id's. Whether it is the right secret is for its hash or
// fingerprint to say.
func ParseFor(id, s string) (Key, error) {
	k, err := Parse(s)
	switch {
	case err == nil && k.ID() != id:
		return Key{}, errors.New("the key belongs to another key ID")
	case err == nil:
		return k, nil
	case strings.HasPrefix(s, Prefix):
		return Key{}, err
	}
	return Foreign(id, s)
}

// LooksLikeJWT tells a compact JWS (three dot-separated parts) from an API
// key: keyward's keys have no dots, and a foreign key may not have two, so
// the verifier's choice between its key and token paths is never ambiguous.
func LooksLikeJWT(credential string) bool { return strings.Count(credential, ".") == 2 }
