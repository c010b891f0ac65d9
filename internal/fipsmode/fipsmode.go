// Package fipsmode is what keyward refuses when it runs in FIPS 140-3 mode
// (crypto/fips140.Enabled): the one rule, applied by `keyward manager` and
// `keyward verifier` to their settings before they start, and by package
// token to every public key it publishes or accepts.
//
// Go's Cryptographic Module enforces some of these rules itself, but only
// under GODEBUG=fips140=only and only when the operation runs (a handshake,
// a signature check), where a refusal is a failed request rather than a
// clear error at start-up. Others the module leaves to the application
// (the PBKDF2 iteration count). Check names the setting that breaks a rule,
// so that an operator learns it before the first request.
package fipsmode

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
)

// The limits of FIPS mode.
const (
	// MinPBKDF2Iterations is NIST SP 800-132's minimum iteration count
	// (section 5.2). Go's module does not check it; keyward does.
	MinPBKDF2Iterations = 1000
	// MinPBKDF2SaltBytes (128 bits, SP 800-132 section 5.1) and
	// MinPBKDF2KeyBytes (112 bits) are what crypto/pbkdf2 refuses under
	// fips140=only.
	MinPBKDF2SaltBytes = 16
	MinPBKDF2KeyBytes  = 14
	// MinRSABits is the smallest RSA modulus FIPS 186-5 and SP 800-131A
	// allow for signatures.
	MinRSABits = 2048
	// minRSAExponent: FIPS 186-5 wants e > 2^16, and odd.
	minRSAExponent = 1 << 16
)

// Settings are the values FIPS mode judges, each named by the flag or
// configuration field that set it.
type Settings struct {
	// PBKDF2 is the key hashing of new hashes; nil where a command hashes
	// nothing new.
	PBKDF2 *PBKDF2
	// Keys are the public keys of certificates and key pairs the command
	// was given: serving certificates, client certificates, CA bundles.
	Keys []Key
}

// PBKDF2 is a PBKDF2 parameter set.
type PBKDF2 struct {
	// Setting names where Iterations came from, e.g. "--pbkdf2-iterations".
	Setting             string
	Iterations          int
	SaltBytes, KeyBytes int
}

// Key is one public key and where it was configured, e.g.
// "--tls-cert-file=/etc/tls/tls.crt".
type Key struct {
	Setting string
	Public  crypto.PublicKey
}

// Check returns every way s breaks FIPS mode, each naming its setting;
// nil when none does.
func Check(s Settings) error {
	var errs []error
	if p := s.PBKDF2; p != nil {
		errs = append(errs, prefix(p.Setting, CheckPBKDF2(p.Iterations, p.SaltBytes, p.KeyBytes)))
	}
	for _, k := range s.Keys {
		errs = append(errs, prefix(k.Setting, CheckPublicKey(k.Public)))
	}
	return errors.Join(errs...)
}

// CheckPBKDF2 checks one PBKDF2 parameter set.
func CheckPBKDF2(iterations, saltBytes, keyBytes int) error {
	var errs []error
	if iterations < MinPBKDF2Iterations {
		errs = append(errs, fmt.Errorf("%d PBKDF2 iterations; FIPS mode needs at least %d (NIST SP 800-132)", iterations, MinPBKDF2Iterations))
	}
	if saltBytes < MinPBKDF2SaltBytes {
		errs = append(errs, fmt.Errorf("a PBKDF2 salt of %d bytes; FIPS mode needs at least %d", saltBytes, MinPBKDF2SaltBytes))
	}
	if keyBytes < MinPBKDF2KeyBytes {
		errs = append(errs, fmt.Errorf("a PBKDF2 output of %d bytes; FIPS mode needs at least %d", keyBytes, MinPBKDF2KeyBytes))
	}
	return errors.Join(errs...)
}

// CheckPublicKey refuses a key FIPS mode may not sign or verify with:
// RSA below 2048 bits, of odd size or with an exponent of 2^16 or less or
// even (what Go's module refuses under fips140=only); ECDSA on a curve
// other than P-256, P-384 and P-521 (what crypto/tls accepts in FIPS mode);
// any type but RSA, ECDSA and Ed25519. The message names the key's type and
// size, never its value.
func CheckPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return errors.New("an RSA key without a modulus")
		}
		bits := k.N.BitLen()
		switch {
		case bits < MinRSABits:
			return fmt.Errorf("an RSA key of %d bits; FIPS mode needs at least %d bits", bits, MinRSABits)
		case bits%2 == 1:
			return fmt.Errorf("an RSA key of %d bits, an odd size, which FIPS mode does not allow", bits)
		case k.E <= minRSAExponent || k.E%2 == 0:
			return fmt.Errorf("an RSA key with public exponent %d; FIPS mode needs an odd exponent above 65536 (usually 65537)", k.E)
		}
		return nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return errors.New("an ECDSA key without a curve")
		}
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("an ECDSA key on curve %s; FIPS mode allows P-256, P-384 and P-521", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return nil
	default:
		return fmt.Errorf("a %T key; FIPS mode allows RSA, ECDSA and Ed25519 keys", pub)
	}
}

func prefix(setting string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", setting, err)
}
