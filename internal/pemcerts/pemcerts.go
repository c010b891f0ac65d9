// Package pemcerts reads PEM bundles of certificates, for every listener
// and client of keyward that is given one in a file: one rule for what a
// bundle may hold.
package pemcerts

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Parse reads every CERTIFICATE block of a PEM bundle, strictly: a block that
// does not parse is an error, not skipped, and a file without any is one.
func Parse(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block in it")
	}
	return certs, nil
}

// Pool is a pool of the certificates of a PEM bundle, read as Parse reads
// it: the CAs a listener or client trusts.
func Pool(b []byte) (*x509.CertPool, error) {
	certs, err := Parse(b)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}
