package keys

import (
	"crypto/fips140"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/keyward-dev/keyward/internal/fipsmode"
)

const (
	// DefaultIterations follows NIST SP 800-132 / OWASP for PBKDF2-HMAC-SHA256.
	DefaultIterations = 600_000
	// MaxIterations bounds the work a stored hash can ask of a verifier, so a
	// crafted record cannot pin a CPU.
	MaxIterations = 10_000_000
	// SaltLength and HashLength are the sizes in bytes of a new hash's salt
	// and PBKDF2 output.
	SaltLength = 16
	HashLength = 32
	phcID      = "pbkdf2-sha256"
)

var b64 = base64.RawStdEncoding

// Hasher hashes keys with PBKDF2-HMAC-SHA256 into PHC strings:
//
//	$pbkdf2-sha256$i=600000$<salt>$<hash>
//
// with unpadded standard base64 salt (16 random bytes) and hash (32 bytes).
type Hasher struct {
	iterations int
}

// NewHasher returns a Hasher with the given iteration count (the default when
// zero). Fewer than DefaultIterations is refused unless allowInsecure is set:
// that switch exists for tests and development only.
func NewHasher(iterations int, allowInsecure bool) (Hasher, error) {
	if iterations == 0 {
		iterations = DefaultIterations
	}
	switch {
	case iterations < 1 || iterations > MaxIterations:
		return Hasher{}, fmt.Errorf("PBKDF2 iterations must be between 1 and %d, got %d", MaxIterations, iterations)
	case iterations < DefaultIterations && !allowInsecure:
		return Hasher{}, fmt.Errorf("PBKDF2 iterations below %d need the explicit insecure (test/development) setting, got %d", DefaultIterations, iterations)
	}
	return Hasher{iterations: iterations}, nil
}

// Iterations is the configured PBKDF2 work factor.
func (h Hasher) Iterations() int { return h.iterations }

// Hash returns the PHC string of the plaintext key.
func (h Hasher) Hash(key Key) (string, error) {
	if h.iterations == 0 {
		return "", errors.New("keys: zero Hasher; use NewHasher")
	}
	salt := make([]byte, SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading salt: %w", err)
	}
	dk, err := pbkdf2.Key(sha256.New, key.Plaintext(), salt, h.iterations, HashLength)
	if err != nil {
		return "", fmt.Errorf("pbkdf2: %w", err)
	}
	return "$" + phcID + "$i=" + strconv.Itoa(h.iterations) + "$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(dk), nil
}

// ErrMalformedHash means a stored hash is not a PHC string this package wrote.
var ErrMalformedHash = errors.New("stored hash is not a valid $pbkdf2-sha256$ PHC string")

// ErrHashNotAllowed means, in FIPS mode, that a stored hash's parameters
// are below what the mode allows: the key must be rotated by a manager in
// FIPS mode, which hashes it anew.
var ErrHashNotAllowed = errors.New("the stored hash is not allowed in FIPS mode")

// Verify reports whether key matches the PHC string, comparing in constant time.
func Verify(key Key, encoded string) (bool, error) {
	p, err := ParseHash(encoded)
	if err != nil {
		return false, err
	}
	if fips140.Enabled() {
		// A hash written outside FIPS mode, with the insecure switch, is
		// not verified: the same rule as the manager's start-up check.
		if err := fipsmode.CheckPBKDF2(p.Iterations, len(p.salt), len(p.hash)); err != nil {
			return false, fmt.Errorf("%w: %w", ErrHashNotAllowed, err)
		}
	}
	dk, err := pbkdf2.Key(sha256.New, key.Plaintext(), p.salt, p.Iterations, len(p.hash))
	if err != nil {
		return false, fmt.Errorf("pbkdf2: %w", err)
	}
	return subtle.ConstantTimeCompare(dk, p.hash) == 1, nil
}

// Hash is a parsed PHC string.
type Hash struct {
	Iterations int
	salt, hash []byte
}

// ParseHash checks a PHC string without computing anything.
func ParseHash(encoded string) (Hash, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != phcID || !strings.HasPrefix(parts[2], "i=") {
		return Hash{}, ErrMalformedHash
	}
	iter, err := strconv.Atoi(parts[2][2:])
	if err != nil || iter < 1 || iter > MaxIterations {
		return Hash{}, ErrMalformedHash
	}
	salt, err := b64.DecodeString(parts[3])
	if err != nil || len(salt) < SaltLength {
		return Hash{}, ErrMalformedHash
	}
	dk, err := b64.DecodeString(parts[4])
	if err != nil || len(dk) != HashLength {
		return Hash{}, ErrMalformedHash
	}
	return Hash{Iterations: iter, salt: salt, hash: dk}, nil
}

// Equal compares two keys in constant time, for callers that hold both
// plaintexts.
func (k Key) Equal(o Key) bool {
	a, b := []byte(k.Plaintext()), []byte(o.Plaintext())
	defer clear(a)
	defer clear(b)
	return subtle.ConstantTimeCompare(a, b) == 1
}
