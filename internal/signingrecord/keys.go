package signingrecord

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base32"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward-dev/keyward/internal/token"
)

// GenerateKey draws an issuer key pair: RSA of bits (at least
// token.MinRSABits) for RS256, or P-256 for ES256.
func GenerateKey(alg string, bits int) (crypto.Signer, error) {
	switch alg {
	case token.RS256:
		if bits < token.MinRSABits {
			return nil, fmt.Errorf("RSA keys need at least %d bits", token.MinRSABits)
		}
		return rsa.GenerateKey(rand.Reader, bits)
	case token.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return nil, fmt.Errorf("algorithm %q is not RS256 or ES256", alg)
}

// KID is the RFC 7638 thumbprint of a public key: the same key always has
// the same kid, on every manager and after every restart, and two keys
// never share one.
func KID(pub crypto.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("thumbprint: %w", err)
	}
	// 128 bits of the thumbprint, in lower-case base32, so a kid is also a
	// valid Secret name part and label value.
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(tp[:16])), nil
}

// PublicJWKJSON is the JSON of the public JWK for a record.
func PublicJWKJSON(kid, alg string, pub crypto.PublicKey) ([]byte, error) {
	jwk, err := token.PublicJWK(kid, alg, pub)
	if err != nil {
		return nil, err
	}
	return json.Marshal(jwk)
}

// EncodePrivateKey is the PKCS #8 PEM of a private key. The DER it is
// made from is overwritten once encoded; the PEM is the caller's to
// overwrite once written.
func EncodePrivateKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return encodeAndClear("PRIVATE KEY", der), nil
}

// encodeAndClear is the PEM block of der, which it then overwrites.
func encodeAndClear(typ string, der []byte) []byte {
	defer clear(der)
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// DecodePrivateKey reads what EncodePrivateKey wrote. Errors never quote
// the input. The DER decoded from b is overwritten once parsed; b itself
// is left alone, as it is usually a Secret's data that a cache shares.
func DecodePrivateKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("private key is not a PKCS #8 PEM block")
	}
	defer clear(block.Bytes)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("private key does not parse as PKCS #8")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("private key cannot sign")
	}
	return s, nil
}

// ParsePublicKey reads an enrolled client key, as a PEM "PUBLIC KEY" block
// or as a JWK, and returns its kid, algorithm and public JWK JSON. The
// algorithm follows from the key, never from what the owner claims.
func ParsePublicKey(in string) (kid, alg string, jwkJSON []byte, err error) {
	var pub crypto.PublicKey
	if block, _ := pem.Decode([]byte(in)); block != nil {
		if block.Type != "PUBLIC KEY" {
			return "", "", nil, fmt.Errorf("PEM block is %q, not \"PUBLIC KEY\"", block.Type)
		}
		if pub, err = x509.ParsePKIXPublicKey(block.Bytes); err != nil {
			return "", "", nil, errors.New("PEM public key does not parse as PKIX")
		}
	} else {
		var jwk jose.JSONWebKey
		if err := json.Unmarshal([]byte(in), &jwk); err != nil {
			return "", "", nil, errors.New("public key is neither a PEM \"PUBLIC KEY\" block nor a JWK")
		}
		if !jwk.IsPublic() {
			return "", "", nil, errors.New("the JWK holds a private key; enroll only the public key")
		}
		pub = jwk.Key
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		alg = token.RS256
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", "", nil, errors.New("ECDSA keys must use the P-256 curve")
		}
		alg = token.ES256
	default:
		return "", "", nil, fmt.Errorf("unsupported public key type %T; use RSA (RS256) or ECDSA P-256 (ES256)", pub)
	}
	if kid, err = KID(pub); err != nil {
		return "", "", nil, err
	}
	if jwkJSON, err = PublicJWKJSON(kid, alg, pub); err != nil {
		return "", "", nil, err
	}
	return kid, alg, jwkJSON, nil
}
