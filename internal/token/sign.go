package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Signer is a private key with the kid it is published under. Build it with
// NewSigner so the algorithm follows from the key.
type Signer struct {
	kid string
	alg string
	key crypto.Signer
}

// NewSigner accepts *rsa.PrivateKey (at least MinRSABits, RS256) and
// *ecdsa.PrivateKey on P-256 (ES256).
func NewSigner(kid string, key crypto.Signer) (Signer, error) {
	if kid == "" {
		return Signer{}, errors.New("a signing key needs a kid")
	}
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
	default:
		return Signer{}, fmt.Errorf("unsupported signing key type %T", key)
	}
	alg, err := algorithmFor(key.Public())
	if err != nil {
		return Signer{}, err
	}
	return Signer{kid: kid, alg: alg, key: key}, nil
}

// KeyID is the kid written into every token header.
func (s Signer) KeyID() string { return s.kid }

// Algorithm is RS256 or ES256.
func (s Signer) Algorithm() string { return s.alg }

// PublicJWK is the entry to publish before this signer issues its first token.
func (s Signer) PublicJWK() (jose.JSONWebKey, error) {
	if s.key == nil {
		return jose.JSONWebKey{}, errors.New("zero Signer")
	}
	return PublicJWK(s.kid, s.alg, s.key.Public())
}

// Sign issues a compact JWS. A token without exp, iss or aud could never pass
// a Validator, so it is refused here rather than minted. An empty jti is
// filled with NewJTI.
func Sign(key Signer, claims Claims) (string, error) {
	if key.key == nil {
		return "", errors.New("zero Signer")
	}
	switch {
	case claims.Expiry.IsZero():
		return "", errors.New("a token needs exp")
	case claims.Issuer == "":
		return "", errors.New("a token needs iss")
	case len(claims.Audience) == 0:
		return "", errors.New("a token needs aud")
	}
	if claims.ID == "" {
		jti, err := NewJTI()
		if err != nil {
			return "", err
		}
		claims.ID = jti
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{
			Algorithm: jose.SignatureAlgorithm(key.alg),
			Key:       jose.JSONWebKey{Key: key.key, KeyID: key.kid, Algorithm: key.alg},
		},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// NewJTI returns 128 random bits, enough that two tokens never share a jti
// and a replay cache can rely on it.
func NewJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
