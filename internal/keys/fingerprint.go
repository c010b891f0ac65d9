package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
)

// A fingerprint lets the manager recognise a key it generated when it
// finds the key again in a delivery Secret, which the key's namespace can
// edit, without running PBKDF2: an HMAC-SHA256 of the key under a secret
// only the manager holds. Stored beside the PBKDF2 hash in the record, it
// gives a reader of the record nothing to test guesses against.
//
//	hmac-sha256:<fingerprint key ID>:<unpadded base64url MAC>
const fingerprintScheme = "hmac-sha256"

// FingerprintKeyLength is the size of a fingerprint key's secret.
const FingerprintKeyLength = 32

// Fingerprinter computes and checks fingerprints under one key.
type Fingerprinter struct {
	id     string
	secret []byte
}

// NewFingerprinter returns a Fingerprinter for a key secret of
// FingerprintKeyLength bytes, named id in the fingerprints it makes.
func NewFingerprinter(id string, secret []byte) (*Fingerprinter, error) {
	switch {
	case len(secret) != FingerprintKeyLength:
		return nil, errors.New("a fingerprint key needs 32 bytes")
	case id == "" || strings.ContainsAny(id, ": "):
		return nil, errors.New("a fingerprint key needs an ID without colons or spaces")
	}
	return &Fingerprinter{id: id, secret: append([]byte(nil), secret...)}, nil
}

// ID names the fingerprint key.
func (f *Fingerprinter) ID() string { return f.id }

// Fingerprint returns the key's fingerprint.
func (f *Fingerprinter) Fingerprint(k Key) string {
	return fingerprintScheme + ":" + f.id + ":" + base64.RawURLEncoding.EncodeToString(f.mac(k))
}

func (f *Fingerprinter) mac(k Key) []byte {
	m := hmac.New(sha256.New, f.secret)
	plain := []byte(k.Plaintext())
	defer clear(plain)
	m.Write(plain)
	return m.Sum(nil)
}

// Match reports whether fp is k's fingerprint. known is false when fp was
// not made under this key (or is no fingerprint at all): the caller then
// cannot tell, and must not take a mismatch for tampering.
func (f *Fingerprinter) Match(k Key, fp string) (match, known bool) {
	scheme, rest, ok := strings.Cut(fp, ":")
	if !ok || scheme != fingerprintScheme {
		return false, false
	}
	id, enc, ok := strings.Cut(rest, ":")
	if !ok || id != f.id {
		return false, false
	}
	want, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(want) != sha256.Size {
		return false, true
	}
	return subtle.ConstantTimeCompare(want, f.mac(k)) == 1, true
}

// ValidFingerprint reports whether fp has the form of a fingerprint.
func ValidFingerprint(fp string) bool {
	parts := strings.Split(fp, ":")
	if len(parts) != 3 || parts[0] != fingerprintScheme || parts[1] == "" {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[2])
	return err == nil && len(b) == sha256.Size
}
