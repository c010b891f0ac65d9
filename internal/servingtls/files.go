package servingtls

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/keyward-dev/keyward/internal/pemcerts"
)

// Files are where a listener's TLS material is: a mounted Secret's tls.crt
// and tls.key, and a bundle of the CAs whose client certificates are
// accepted (ca.crt).
type Files struct {
	CertFile, KeyFile string
	// ClientCAFile is needed by, and only by, the modes that verify.
	ClientCAFile string
	ClientAuth   ClientAuth
}

// Enabled says whether the listener speaks TLS at all.
func (f Files) Enabled() bool { return f.CertFile != "" || f.KeyFile != "" }

// Check refuses a combination that cannot mean what its author wanted,
// before any file is read.
func (f Files) Check() error {
	if _, err := ParseClientAuth(string(f.ClientAuth)); err != nil {
		return err
	}
	mode := f.mode()
	switch {
	case f.CertFile == "" && f.KeyFile != "":
		return errors.New("a TLS key file without a certificate file")
	case f.CertFile != "" && f.KeyFile == "":
		return errors.New("a TLS certificate file without a key file")
	case !f.Enabled() && mode != ClientAuthNone:
		return fmt.Errorf("client certificate mode %q needs TLS: give a certificate and key file", mode)
	case !f.Enabled() && f.ClientCAFile != "":
		return errors.New("a client CA file needs TLS: give a certificate and key file")
	case mode.verifies() && f.ClientCAFile == "":
		return fmt.Errorf("client certificate mode %q verifies against a client CA file: give one", mode)
	case !mode.verifies() && f.ClientCAFile != "":
		// A bundle that nothing checks would look like protection.
		return fmt.Errorf("a client CA file is only used by modes %q and %q, not %q", ClientAuthOptional, ClientAuthRequired, mode)
	}
	return nil
}

func (f Files) mode() ClientAuth {
	if f.ClientAuth == "" {
		return ClientAuthNone
	}
	return f.ClientAuth
}

// material is one reading of the files.
type material struct {
	pair tls.Certificate
	// pool is nil unless the mode verifies.
	pool *x509.CertPool
	// digest is a SHA-256 of the files' bytes, to tell a change from a
	// rewrite of the same content without keeping a copy of the key.
	digest [sha256.Size]byte
}

// read loads and checks every file.
func (f Files) read() (*material, error) {
	certPEM, err := os.ReadFile(f.CertFile)
	if err != nil {
		return nil, fmt.Errorf("reading the TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("reading the TLS key: %w", err)
	}
	// The key lives on parsed, in pair; the file's bytes are overwritten.
	defer clear(keyPEM)
	if _, err := pemcerts.Parse(certPEM); err != nil {
		return nil, fmt.Errorf("TLS certificate %s: %w", f.CertFile, err)
	}
	// X509KeyPair's errors name no key material.
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s with key %s: %w", f.CertFile, f.KeyFile, err)
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	m := &material{pair: pair}
	if f.mode().verifies() {
		caPEM, err := os.ReadFile(f.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the client CA bundle: %w", err)
		}
		if m.pool, err = pemcerts.Pool(caPEM); err != nil {
			return nil, fmt.Errorf("client CA bundle %s: %w", f.ClientCAFile, err)
		}
		h.Write([]byte{0})
		h.Write(caPEM)
	}
	h.Sum(m.digest[:0])
	return m, nil
}
