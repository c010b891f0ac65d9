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

// Parse reads every CERTIFICATE block of a PEM file, strictly: a block that
// does not parse is an error, not skipped, and a file without any is one.
// Other blocks are skipped, as crypto/tls does, since a certificate file
// may carry its key too.
func Parse(b []byte) ([]*x509.Certificate, error) { return parse(b, false) }

// Pool is a pool of the certificates of a CA bundle: the CAs a listener
// or client trusts. A bundle holds certificates only; anything else in it
// (a private key pasted by mistake) is an error, since a file that is not
// what it claims to be should stop whoever relies on it.
func Pool(b []byte) (*x509.CertPool, error) {
	certs, err := parse(b, true)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

func parse(b []byte, onlyCertificates bool) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			if onlyCertificates {
				return nil, fmt.Errorf("a %s block; a CA bundle holds only CERTIFICATE blocks", block.Type)
			}
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
