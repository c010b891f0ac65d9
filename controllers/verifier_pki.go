package controllers

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/keyward-dev/keyward/internal/signingrecord"
)

// The verifier's self-managed CA issues with random serial numbers: RFC
// 5280 §4.1.2.2 wants them unique per CA, and clients that remember them
// (NSS) refuse a renewed certificate whose issuer and serial they have
// seen before. The webhook's certificate library numbers every
// certificate alike, so the verifier's are made here.

// newVerifierCA makes a CA valid from notBefore to notAfter.
func newVerifierCA(notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: verifierCAName, Organization: []string{"keyward"}},
		// Its own name as a SAN too, which is what the check of an
		// existing CA (the webhook library's ValidCert) verifies it for.
		DNSNames:              []string{verifierCAName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return createCertificate(tmpl, nil, key, key)
}

// issueVerifierServing issues the verifier's serving certificate for its
// Service's names.
func issueVerifierServing(ca *x509.Certificate, caKey crypto.Signer, dnsNames []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: dnsNames[0]},
		DNSNames:    dnsNames,
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return createCertificate(tmpl, ca, key, caKey)
}

// createCertificate signs tmpl with signer (self-signed when parent is
// nil) and returns it and key in PEM, the key in PKCS #8 (its DER
// overwritten once encoded).
func createCertificate(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer crypto.Signer) (certPEM, keyPEM []byte, err error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = signingrecord.EncodePrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// parseSigner reads a PEM private key that can sign: PKCS #8, or the
// PKCS #1 RSA key of CAs made before keyward issued its own. The DER
// decoded from keyPEM is overwritten once parsed.
func parseSigner(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM key")
	}
	defer clear(block.Bytes)
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("a %T cannot sign", k)
		}
		return signer, nil
	}
	return x509.ParsePKCS1PrivateKey(block.Bytes)
}
