package redisconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/keyward-dev/keyward/internal/pemcerts"
)

// TLSFiles name the PEM files of a TLS connection to Redis, as a mounted
// Secret holds them. The errors of LoadTLS begin with the field that was
// wrong (caFile, certFile, keyFile), for the caller to put its own path in
// front.
type TLSFiles struct {
	// CAFile holds the CAs that may issue the server's certificate; empty
	// for the system's roots.
	CAFile string
	// CertFile and KeyFile are the client certificate and its key, for a
	// server that asks for one (tls-auth-clients); both or neither.
	CertFile, KeyFile string
	// ServerName is the name the server's certificate must carry; empty
	// for the host of the address.
	ServerName string
}

// LoadTLS reads the files once. The server is always verified: there is
// no way to turn verification off.
func LoadTLS(f TLSFiles) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CAFile != "" {
		b, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("caFile: %w", err)
		}
		if conf.RootCAs, err = pemcerts.Pool(b); err != nil {
			return nil, fmt.Errorf("caFile: %s: %w", f.CAFile, err)
		}
	}
	switch {
	case f.CertFile == "" && f.KeyFile == "":
	case f.CertFile == "":
		return nil, errors.New("certFile: required with keyFile")
	case f.KeyFile == "":
		return nil, errors.New("keyFile: required with certFile")
	default:
		certPEM, err := os.ReadFile(f.CertFile)
		if err != nil {
			return nil, fmt.Errorf("certFile: %w", err)
		}
		keyPEM, err := os.ReadFile(f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("keyFile: %w", err)
		}
		// The key lives on parsed, in cert; the file's bytes are
		// overwritten.
		defer clear(keyPEM)
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("certFile, keyFile: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// ReadPassword reads a password file, as a mounted Secret holds it: one
// line, its line ending not part of the password. An empty file is an
// error, so that a Secret mounted without its key is not taken for "no
// password".
func ReadPassword(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	password := strings.TrimRight(string(b), "\r\n")
	clear(b)
	if password == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return password, nil
}
