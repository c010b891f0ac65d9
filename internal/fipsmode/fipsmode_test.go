package fipsmode

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"math/big"
	"testing"

	. "github.com/onsi/gomega"
)

// rsaKey is a public key of the given size and exponent; its modulus is
// no product of primes, which no rule here looks at.
func rsaKey(bits, e int) *rsa.PublicKey {
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	return &rsa.PublicKey{N: n.Add(n, big.NewInt(1)), E: e}
}

func TestCheckPublicKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  crypto.PublicKey
		err  string // empty: allowed
	}{
		{"RSA 2048", rsaKey(2048, 65537), ""},
		{"RSA 3072", rsaKey(3072, 65537), ""},
		{"RSA 4096", rsaKey(4096, 65537), ""},
		{"RSA 1024", rsaKey(1024, 65537), "an RSA key of 1024 bits; FIPS mode needs at least 2048 bits"},
		{"RSA 2047", rsaKey(2047, 65537), "an RSA key of 2047 bits; FIPS mode needs at least 2048 bits"},
		{"RSA 2049", rsaKey(2049, 65537), "an RSA key of 2049 bits, an odd size"},
		{"RSA e=3", rsaKey(2048, 3), "an RSA key with public exponent 3; FIPS mode needs an odd exponent above 65536"},
		{"RSA e=65536", rsaKey(2048, 65536), "public exponent 65536"},
		{"RSA even e", rsaKey(2048, 65538), "public exponent 65538"},
		{"RSA without modulus", &rsa.PublicKey{E: 65537}, "an RSA key without a modulus"},
		{"P-256", &ecdsa.PublicKey{Curve: elliptic.P256()}, ""},
		{"P-384", &ecdsa.PublicKey{Curve: elliptic.P384()}, ""},
		{"P-521", &ecdsa.PublicKey{Curve: elliptic.P521()}, ""},
		{"P-224", &ecdsa.PublicKey{Curve: elliptic.P224()}, "an ECDSA key on curve P-224; FIPS mode allows P-256, P-384 and P-521"},
		{"ECDSA without curve", &ecdsa.PublicKey{}, "an ECDSA key without a curve"},
		{"Ed25519", ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)), ""},
		{"X25519", (*ecdh.PublicKey)(nil), "a *ecdh.PublicKey key; FIPS mode allows RSA, ECDSA and Ed25519 keys"},
		{"nil", nil, "a <nil> key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := CheckPublicKey(tc.key)
			if tc.err == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.err)))
		})
	}
}

func TestCheckPBKDF2(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		iterations, salt, keyBytes int
		errs                       []string
	}{
		{"keyward's defaults", 600_000, 16, 32, nil},
		{"the minimum", 1000, 16, 14, nil},
		{"too few iterations", 999, 16, 32, []string{"999 PBKDF2 iterations; FIPS mode needs at least 1000 (NIST SP 800-132)"}},
		{"a short salt", 600_000, 15, 32, []string{"a PBKDF2 salt of 15 bytes; FIPS mode needs at least 16"}},
		{"a short output", 600_000, 16, 13, []string{"a PBKDF2 output of 13 bytes; FIPS mode needs at least 14"}},
		{"all three", 1, 8, 8, []string{"1 PBKDF2 iterations", "salt of 8 bytes", "output of 8 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := CheckPBKDF2(tc.iterations, tc.salt, tc.keyBytes)
			if tc.errs == nil {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			for _, want := range tc.errs {
				g.Expect(err).To(MatchError(ContainSubstring(want)))
			}
		})
	}
}

func TestCheckNamesEverySetting(t *testing.T) {
	g := NewWithT(t)
	err := Check(Settings{
		PBKDF2: &PBKDF2{Setting: "--pbkdf2-iterations", Iterations: 10, SaltBytes: 16, KeyBytes: 32},
		Keys: []Key{
			{Setting: "--tls-cert-file=tls.crt", Public: rsaKey(2048, 65537)},
			{Setting: "--tls-client-ca-file=ca.crt", Public: rsaKey(1024, 65537)},
			{Setting: "rateLimits.redis.tls.caFile=redis-ca.crt", Public: &ecdsa.PublicKey{Curve: elliptic.P224()}},
		},
	})
	g.Expect(err).To(MatchError(ContainSubstring("--pbkdf2-iterations: 10 PBKDF2 iterations")))
	g.Expect(err).To(MatchError(ContainSubstring("--tls-client-ca-file=ca.crt: an RSA key of 1024 bits")))
	g.Expect(err).To(MatchError(ContainSubstring("rateLimits.redis.tls.caFile=redis-ca.crt: an ECDSA key on curve P-224")))
	g.Expect(err.Error()).NotTo(ContainSubstring("tls-cert-file"), "an allowed key is not reported")

	g.Expect(Check(Settings{
		PBKDF2: &PBKDF2{Setting: "--pbkdf2-iterations", Iterations: 600_000, SaltBytes: 16, KeyBytes: 32},
		Keys:   []Key{{Setting: "--tls-cert-file=tls.crt", Public: &ecdsa.PublicKey{Curve: elliptic.P256()}}},
	})).To(Succeed())
	g.Expect(Check(Settings{})).To(Succeed())
}
