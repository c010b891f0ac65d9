package keys

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"unsafe"
)

const (
	// Prefix starts every key, so that people and scanners recognise one.
	Prefix = "keyward_"
	// IDLength is the length of the public key ID.
	IDLength = 16
	// SecretLength is the number of base62 characters of the secret:
	// 62^43 > 2^256.
	SecretLength   = 43
	checksumLength = 6
	// Length is the length of every well-formed key.
	Length = len(Prefix) + IDLength + 1 + SecretLength + checksumLength

	// ScanPattern finds keys in text, for secret scanners.
	ScanPattern = `keyward_[a-z2-7]{16}_[0-9A-Za-z]{49}`

	idAlphabet     = "abcdefghijklmnopqrstuvwxyz234567"
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// Key is a parsed or generated key. Only Plaintext returns the secret; every
// formatting path (String, %v, %#v, loggers that call String) shows the ID.
type Key struct {
	id     string
	secret string
	// foreign is the whole plaintext of a key in another system's format
	// (see Foreign); secret is then empty.
	foreign string
}

// ID is the public key ID: safe to log, show and store.
func (k Key) ID() string { return k.id }

// Plaintext returns the whole key. It belongs in the delivery Secret and in
// PBKDF2, nowhere else.
func (k Key) Plaintext() string {
	if k.foreign != "" {
		return k.foreign
	}
	body := Prefix + k.id + "_" + k.secret
	return body + checksum(body)
}

// String is redacted so that a key handed to a logger or an error by mistake
// shows only its public ID.
func (k Key) String() string {
	if k.foreign != "" {
		return "foreign key " + k.id + " [redacted]"
	}
	return Prefix + k.id + "_[redacted]"
}

// GoString keeps %#v from printing the secret.
func (k Key) GoString() string { return "keys.Key{ID:" + k.id + "}" }

// NewID returns a fresh random key ID.
func NewID() (string, error) { return randomString(idAlphabet, IDLength) }

// Generate returns a new key for the given key ID (a fresh ID when empty).
// A rotation keeps the ID and replaces the secret.
func Generate(id string) (Key, error) {
	if id == "" {
		var err error
		if id, err = NewID(); err != nil {
			return Key{}, err
		}
	} else if err := ValidateID(id); err != nil {
		return Key{}, err
	}
	secret, err := randomString(base62Alphabet, SecretLength)
	if err != nil {
		return Key{}, err
	}
	return Key{id: id, secret: secret}, nil
}

// Errors returned by Parse. They never contain the input.
var (
	ErrLength   = errors.New("key has the wrong length")
	ErrPrefix   = errors.New(`key does not start with "` + Prefix + `"`)
	ErrCharset  = errors.New("key contains a character outside its alphabet")
	ErrChecksum = errors.New("key checksum does not match (mistyped or truncated key)")
)

// Parse checks a presented key's shape and checksum without any lookup.
func Parse(s string) (Key, error) {
	if len(s) != Length {
		return Key{}, ErrLength
	}
	if !strings.HasPrefix(s, Prefix) {
		return Key{}, ErrPrefix
	}
	rest := s[len(Prefix):]
	id, rest := rest[:IDLength], rest[IDLength:]
	if rest[0] != '_' {
		return Key{}, ErrCharset
	}
	secret, sum := rest[1:1+SecretLength], rest[1+SecretLength:]
	if !within(id, &idSet) || !within(secret, &base62Set) || !within(sum, &base62Set) {
		return Key{}, ErrCharset
	}
	if !checksumMatches(s[:len(s)-checksumLength], sum) {
		return Key{}, ErrChecksum
	}
	return Key{id: id, secret: secret}, nil
}

// ValidateID reports whether id has the form of a key ID.
func ValidateID(id string) error {
	if len(id) != IDLength || !within(id, &idSet) {
		return fmt.Errorf("key ID must be %d characters of [a-z2-7]", IDLength)
	}
	return nil
}

func checksum(body string) string {
	out := checksumBytes(body)
	return string(out[:])
}

// checksumMatches is checksum(body) == sum without building a string: Parse
// runs on every request a verifier answers.
func checksumMatches(body, sum string) bool {
	out := checksumBytes(body)
	return string(out[:]) == sum
}

// crcString is crc32.ChecksumIEEE of a string. The bytes are the string's
// own, read in place: the conversion []byte(s) would copy and allocate on
// every key the verifier parses, and a byte-at-a-time table loop is five
// times slower than the standard library's vectorised one. ChecksumIEEE
// only reads its argument.
func crcString(s string) uint32 {
	return crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(s), len(s)))
}

func checksumBytes(body string) [checksumLength]byte {
	v := uint64(crcString(body))
	var out [checksumLength]byte
	for i := checksumLength - 1; i >= 0; i-- {
		out[i] = base62Alphabet[v%62]
		v /= 62
	}
	return out
}

// randomString draws n characters uniformly from alphabet, rejecting bytes
// that would bias the draw. The buffers that held the draw are overwritten
// before it returns: only the string (which Go cannot overwrite) remains.
func randomString(alphabet string, n int) (string, error) {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	defer clear(buf)
	defer clear(out[:cap(out)])
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("reading random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit {
				out = append(out, alphabet[int(b)%len(alphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out), nil
}

// charset is a byte set for the alphabets; a lookup per byte keeps Parse
// cheap on the request path.
type charset [256]bool

func newCharset(alphabet string) (c charset) {
	for i := 0; i < len(alphabet); i++ {
		c[alphabet[i]] = true
	}
	return c
}

var (
	idSet     = newCharset(idAlphabet)
	base62Set = newCharset(base62Alphabet)
)

func within(s string, set *charset) bool {
	for i := 0; i < len(s); i++ {
		if !set[s[i]] {
			return false
		}
	}
	return true
}
