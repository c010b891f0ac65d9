package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/rsa"
	"encoding/json"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward-dev/keyward/internal/fipsmode"
)

// The only algorithms this package signs or accepts.
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// MinRSABits follows NIST SP 800-57: shorter RSA keys are no longer
// acceptable for new signatures.
const MinRSABits = 2048

// algorithmFor names the one algorithm a public key may be used with, so that
// the algorithm is a property of the key and never a choice of the token.
// In FIPS mode a key must also pass fipsmode.CheckPublicKey: an enrolled
// RSA key with exponent 3 is refused when it is enrolled, not at every
// token its owner presents.
func algorithmFor(pub crypto.PublicKey) (string, error) {
	var alg string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil || k.N.BitLen() < MinRSABits {
			return "", fmt.Errorf("RSA keys must have at least %d bits", MinRSABits)
		}
		alg = RS256
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ECDSA keys must use the P-256 curve")
		}
		alg = ES256
	default:
		return "", fmt.Errorf("unsupported public key type %T", pub)
	}
	if fips140.Enabled() {
		if err := fipsmode.CheckPublicKey(pub); err != nil {
			return "", err
		}
	}
	return alg, nil
}

// checkKeyAlgorithm refuses a key paired with an algorithm it was not made
// for, which is how key-confusion attacks begin.
func checkKeyAlgorithm(alg string, pub crypto.PublicKey) error {
	want, err := algorithmFor(pub)
	if err != nil {
		return err
	}
	if alg != want {
		return fmt.Errorf("algorithm %q does not fit a key for %s", alg, want)
	}
	return nil
}

// PublicJWK describes a public verification key for a JWKS. It refuses
// private keys, so a mix-up cannot publish signing material.
func PublicJWK(kid, alg string, pub crypto.PublicKey) (jose.JSONWebKey, error) {
	if kid == "" {
		return jose.JSONWebKey{}, fmt.Errorf("a published key needs a kid")
	}
	if err := checkKeyAlgorithm(alg, pub); err != nil {
		return jose.JSONWebKey{}, err
	}
	jwk := jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}
	if !jwk.Valid() || !jwk.IsPublic() {
		return jose.JSONWebKey{}, fmt.Errorf("key %q is not a valid public key", kid)
	}
	return jwk, nil
}

// KeySet is an RFC 7517 JWK Set of verification keys. The zero value is an
// empty set. It also resolves kids for a Validator: every key in a set is
// published by definition.
type KeySet struct {
	keys []jose.JSONWebKey
}

// Add publishes a key. A kid names one key for its whole life, so a second
// key under the same kid is refused rather than silently shadowing the first.
func (s *KeySet) Add(kid, alg string, pub crypto.PublicKey) error {
	jwk, err := PublicJWK(kid, alg, pub)
	if err != nil {
		return err
	}
	for _, k := range s.keys {
		if k.KeyID == kid {
			return fmt.Errorf("kid %q is already in the set", kid)
		}
	}
	s.keys = append(s.keys, jwk)
	return nil
}

// Len is the number of keys in the set.
func (s *KeySet) Len() int { return len(s.keys) }

// ResolveKey implements KeyResolver.
func (s *KeySet) ResolveKey(kid string) (ResolvedKey, bool) {
	for _, k := range s.keys {
		if k.KeyID == kid {
			return ResolvedKey{Key: k.Key, Algorithm: k.Algorithm, Published: true}, true
		}
	}
	return ResolvedKey{}, false
}

type wireKeySet struct {
	Keys []jose.JSONWebKey `json:"keys"`
}

func (s KeySet) MarshalJSON() ([]byte, error) {
	keys := s.keys
	if keys == nil {
		keys = []jose.JSONWebKey{}
	}
	return json.Marshal(wireKeySet{Keys: keys})
}

// UnmarshalJSON reads a set an owner enrolled. Each key must name its alg
// and pass the same checks as Add: an algorithm is never guessed from a key.
func (s *KeySet) UnmarshalJSON(b []byte) error {
	var w wireKeySet
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var out KeySet
	for _, k := range w.Keys {
		if k.Use != "" && k.Use != "sig" {
			return fmt.Errorf("key %q: use %q is not sig", k.KeyID, k.Use)
		}
		if err := out.Add(k.KeyID, k.Algorithm, k.Key); err != nil {
			return err
		}
	}
	*s = out
	return nil
}
