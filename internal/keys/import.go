package keys

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// MinImportIterations is the least PBKDF2 work an imported hash may carry.
// Below it a hash taken from the verifier's record would give up its key to
// a brute force in hours; keyward's own floor is DefaultIterations, and
// passlib's default for pbkdf2_sha256 (29000) stays importable.
const MinImportIterations = 10_000

// MaxImportIterations is the most PBKDF2 work an imported hash may carry.
// The hash comes from a tenant, and anyone who knows the key ID can make
// the shared verifier run it once per wrong secret: at MaxIterations one
// attempt holds a hashing slot for seconds, longer than requests wait for
// one, and every tenant's first uses would be answered hashing_busy. A
// million iterations is less than twice keyward's own default.
const MaxImportIterations = 1_000_000

// ImportFormats says, in every refusal, what an imported hash must look like.
const ImportFormats = `PBKDF2-HMAC-SHA256 in PHC form "$pbkdf2-sha256$i=<iterations>$<salt>$<hash>" ` +
	`(standard base64 without padding) or passlib's "$pbkdf2-sha256$<iterations>$<salt>$<hash>" ` +
	`(passlib's base64 with "." for "+")`

// ParseImportHash checks a hash brought from another system and returns it
// as keyward stores hashes: "$pbkdf2-sha256$i=<n>$<salt>$<hash>" with
// standard unpadded base64. Both the PHC string keyward writes and
// passlib's pbkdf2_sha256 encoding are accepted; every other scheme is
// refused with an error that names the scheme seen. Errors never repeat
// the hash.
func ParseImportHash(encoded string) (string, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != phcID {
		return "", fmt.Errorf("the hash is %s; only %s is accepted", describeScheme(encoded), ImportFormats)
	}
	rounds, saltText, hashText := parts[2], parts[3], parts[4]
	enc := b64
	if !strings.HasPrefix(rounds, "i=") {
		// passlib writes the bare number and its "adapted base64".
		rounds = "i=" + rounds
		saltText, hashText = fromPasslibBase64(saltText), fromPasslibBase64(hashText)
	}
	iterations, err := strconv.Atoi(rounds[2:])
	if err != nil || strconv.Itoa(iterations) != rounds[2:] {
		return "", fmt.Errorf("the hash's iteration count is not a decimal number; expected %s", ImportFormats)
	}
	if iterations < MinImportIterations || iterations > MaxImportIterations {
		return "", fmt.Errorf("the hash has %d PBKDF2 iterations; an imported hash needs between %d and %d", iterations, MinImportIterations, MaxImportIterations)
	}
	salt, err := enc.DecodeString(saltText)
	if err != nil {
		return "", fmt.Errorf("the hash's salt is not base64 without padding; expected %s", ImportFormats)
	}
	if len(salt) < SaltLength {
		return "", fmt.Errorf("the hash's salt is %d bytes; an imported hash needs at least %d", len(salt), SaltLength)
	}
	dk, err := enc.DecodeString(hashText)
	if err != nil {
		return "", fmt.Errorf("the hash's digest is not base64 without padding; expected %s", ImportFormats)
	}
	if len(dk) != HashLength {
		return "", fmt.Errorf("the hash's digest is %d bytes; PBKDF2-HMAC-SHA256 gives %d", len(dk), HashLength)
	}
	out := "$" + phcID + "$i=" + strconv.Itoa(iterations) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(dk)
	if _, err := ParseHash(out); err != nil {
		return "", err
	}
	return out, nil
}

func fromPasslibBase64(s string) string { return strings.ReplaceAll(s, ".", "+") }

// describeScheme names, for an error, the scheme a refused hash seems to
// use, from its shape alone.
func describeScheme(encoded string) string {
	schemes := []struct{ prefix, name string }{
		{"$2a$", "bcrypt"}, {"$2b$", "bcrypt"}, {"$2y$", "bcrypt"}, {"$2x$", "bcrypt"},
		{"$argon2id$", "argon2id"}, {"$argon2i$", "argon2i"}, {"$argon2d$", "argon2d"},
		{"$scrypt$", "scrypt"}, {"$7$", "scrypt"},
		{"$pbkdf2$", "PBKDF2-HMAC-SHA1 (passlib $pbkdf2$)"}, {"$pbkdf2-sha1$", "PBKDF2-HMAC-SHA1"},
		{"$pbkdf2-sha512$", "PBKDF2-HMAC-SHA512"},
		{"pbkdf2_sha256$", "Django's pbkdf2_sha256 (convert it to PHC form)"},
		{"$5$", "sha256-crypt"}, {"$6$", "sha512-crypt"}, {"$1$", "md5-crypt"},
		{"$" + phcID + "$", "a $pbkdf2-sha256$ string with the wrong number of fields"},
	}
	for _, s := range schemes {
		if strings.HasPrefix(encoded, s.prefix) {
			return s.name
		}
	}
	switch {
	case encoded == "":
		return "empty"
	case isHex(encoded) && len(encoded) == 64:
		return "a bare SHA-256 hex digest (unsalted)"
	case isHex(encoded):
		return fmt.Sprintf("a bare hex digest of %d characters", len(encoded))
	case strings.HasPrefix(encoded, "$"):
		if i := strings.IndexByte(encoded[1:], '$'); i > 0 && i <= 32 && isSchemeName(encoded[1:1+i]) {
			return fmt.Sprintf("of scheme %q", encoded[1:1+i])
		}
	}
	if _, err := base64.StdEncoding.DecodeString(encoded); err == nil {
		return "bare base64 without a scheme"
	}
	return "in no format keyward recognises"
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(s[i])) {
			return false
		}
	}
	return s != ""
}

// isSchemeName keeps an error from echoing anything but a plain scheme
// identifier.
func isSchemeName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		lower, digit := c >= 'a' && c <= 'z', c >= '0' && c <= '9'
		if !lower && !digit && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
