package main

import (
	"crypto/fips140"
	"fmt"
	"os"

	"github.com/keyward-dev/keyward/internal/fipsmode"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/pemcerts"
	"github.com/keyward-dev/keyward/internal/verifierflags"
	"github.com/keyward-dev/keyward/verifier"
)

// refuseInFIPSMode stops a command in FIPS 140-3 mode (a binary built with
// GOFIPS140, or GODEBUG=fips140=on|only) whose settings the mode does not
// allow, naming each of them; outside FIPS mode it allows everything.
func refuseInFIPSMode(s fipsmode.Settings) error {
	if !fips140.Enabled() {
		return nil
	}
	if err := fipsmode.Check(s); err != nil {
		return fmt.Errorf("refusing to start in FIPS 140-3 mode (Go Cryptographic Module %s): %w", fips140.Version(), err)
	}
	return nil
}

// managerFIPSSettings are the manager's settings that FIPS mode judges:
// the hashing of new keys. Its webhook certificate is either generated
// (RSA 2048) or mounted later by cert-manager, so there is nothing to
// read at start.
func managerFIPSSettings(iterations int) fipsmode.Settings {
	if iterations == 0 {
		iterations = keys.DefaultIterations
	}
	return fipsmode.Settings{PBKDF2: &fipsmode.PBKDF2{
		Setting:    "--pbkdf2-iterations",
		Iterations: iterations, SaltBytes: keys.SaltLength, KeyBytes: keys.HashLength,
	}}
}

// verifierFIPSSettings are the public keys of every certificate the
// verifier was given: the request ports' certificate chain and client CA
// bundles, the authorities of certificate bindings and the Redis TLS
// files. Each is read after its own loader accepted it, so reading fails
// here only if the file changed in between.
func verifierFIPSSettings(f verifierflags.Flags, conf verifier.Config) (fipsmode.Settings, error) {
	files := []struct{ setting, path string }{
		{"--" + verifierflags.TLSCertFlag, f.TLS.CertFile},
		{"--" + verifierflags.TLSClientCAFlag, f.TLS.ClientCAFile},
		{"--" + verifierflags.PublicTLSClientCAFlag, f.TLS.PublicClientCAFile},
	}
	for i, a := range conf.ClientCertificates.Authorities {
		files = append(files, struct{ setting, path string }{fmt.Sprintf("clientCertificates.authorities[%d] (%s) caFile", i, a.Name), a.CAFile})
	}
	if r := conf.RateLimits.Redis; r != nil && r.TLS != nil {
		files = append(files,
			struct{ setting, path string }{"rateLimits.redis.tls.caFile", r.TLS.CAFile},
			struct{ setting, path string }{"rateLimits.redis.tls.certFile", r.TLS.CertFile})
	}
	var s fipsmode.Settings
	for _, file := range files {
		if file.path == "" {
			continue
		}
		b, err := os.ReadFile(file.path)
		if err != nil {
			return s, fmt.Errorf("%s: %w", file.setting, err)
		}
		certs, err := pemcerts.Parse(b)
		if err != nil {
			return s, fmt.Errorf("%s %s: %w", file.setting, file.path, err)
		}
		for i, c := range certs {
			s.Keys = append(s.Keys, fipsmode.Key{
				Setting: fmt.Sprintf("%s %s, certificate %d (%s)", file.setting, file.path, i+1, c.Subject),
				Public:  c.PublicKey,
			})
		}
	}
	return s, nil
}
