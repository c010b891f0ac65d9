// Package pemcerts reads PEM bundles of certificates, for every listener
// and client of keyward that is given one in a file: one rule for what a
// bundle may hold.
package pemcerts

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Parse reads every CERTIFICATE block of a PEM file, strictly: a block that
// does not parse is an error, not skipped, and a file without any is one.
// Other blocks are skipped, as crypto/tls does, since a certificate file
// may carry its key too.
func Parse(b []byte) ([]*x509.Certificate, error) { return parse(b, rules{}) }

// Pool is a pool of the certificates of a CA bundle: the CAs a listener
// or client trusts. A bundle holds certificates only; anything else in it
// (a private key pasted by mistake) is an error, since a file that is not
// what it claims to be should stop whoever relies on it.
func Pool(b []byte) (*x509.CertPool, error) {
	certs, err := parse(b, rules{onlyCertificates: true, what: "a CA bundle"})
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// Chain reads a certificate chain, leaf first, that someone else sent (a
// proxy's header): at most max CERTIFICATE blocks, nothing else, and no
// text after them (a truncated value).
func Chain(b []byte, max int) ([]*x509.Certificate, error) {
	return parse(b, rules{onlyCertificates: true, nothingAfter: true, max: max, what: "a certificate chain"})
}

// rules say what a PEM text may hold besides certificates.
type rules struct {
	// onlyCertificates refuses other blocks rather than skipping them;
	// what names the text in that refusal.
	onlyCertificates bool
	what             string
	// nothingAfter refuses text after the last block.
	nothingAfter bool
	// max, when positive, bounds the certificates.
	max int
}

func parse(b []byte, r rules) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		block, rest := pem.Decode(b)
		if block == nil {
			break
		}
		b = rest
		if block.Type != "CERTIFICATE" {
			if r.onlyCertificates {
				return nil, fmt.Errorf("a %s block; %s holds only CERTIFICATE blocks", block.Type, r.what)
			}
			continue
		}
		if r.max > 0 && len(certs) == r.max {
			return nil, fmt.Errorf("more than %d certificates", r.max)
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
	if r.nothingAfter && len(bytes.TrimSpace(b)) != 0 {
		return nil, errors.New("text after the PEM certificates")
	}
	return certs, nil
}
