package main

import (
	"crypto/fips140"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
// the hashing of new keys, and in external mode the webhook's certificate,
// which a mounted Secret (cert-manager's) provides before the process
// starts. A self-managed certificate is the manager's own (RSA 2048), made
// after the check.
func managerFIPSSettings(o managerOptions) (fipsmode.Settings, error) {
	iterations := o.iterations
	if iterations == 0 {
		iterations = keys.DefaultIterations
	}
	s := fipsmode.Settings{PBKDF2: &fipsmode.PBKDF2{
		Setting:    "--pbkdf2-iterations",
		Iterations: iterations, SaltBytes: keys.SaltLength, KeyBytes: keys.HashLength,
	}}
	if !o.enableWebhooks || o.webhookCertMode != certModeExternal {
		return s, nil
	}
	// controller-runtime's file name; a missing file is its error to report.
	path := filepath.Join(o.webhookCertDir, "tls.crt")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	var err error
	s.Keys, err = certificateKeys(s.Keys, "--webhook-cert-dir", path)
	return s, err
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
		var err error
		if s.Keys, err = certificateKeys(s.Keys, file.setting, file.path); err != nil {
			return s, err
		}
	}
	return s, nil
}

// certificateKeys appends the public key of every certificate in the PEM
// file at path, each named by setting, the file and its place in it.
func certificateKeys(to []fipsmode.Key, setting, path string) ([]fipsmode.Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return to, fmt.Errorf("%s: %w", setting, err)
	}
	certs, err := pemcerts.Parse(b)
	if err != nil {
		return to, fmt.Errorf("%s %s: %w", setting, path, err)
	}
	for i, c := range certs {
		to = append(to, fipsmode.Key{
			Setting: fmt.Sprintf("%s %s, certificate %d (%s)", setting, path, i+1, c.Subject),
			Public:  c.PublicKey,
		})
	}
	return to, nil
}
