package verifier

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestAttackLargeClientCertificatesAreRefused: crypto/tls accepts a
// Certificate message of up to 256 KiB, and mode request takes any
// self-signed certificate. A certificate, or a chain, far larger than
// real ones is refused as malformed before it is remembered.
func TestAttackLargeClientCertificatesAreRefused(t *testing.T) {
	g := NewWithT(t)
	h := &handler{tlsCerts: newCertMemo[*x509.Certificate]()}

	huge := paddedSelfSigned(t, 200<<10)
	_, err := h.tlsClientCertificate(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{huge}})
	g.Expect(err).To(MatchError(errMalformedCertificate))
	g.Expect(err).To(MatchError(ContainSubstring("the client certificate is %d bytes, at most %d", len(huge.Raw), maxLeafBytes)))

	// Each certificate within the bound, the chain not.
	chain := []*x509.Certificate{paddedSelfSigned(t, 10<<10)}
	for range maxChain - 1 {
		chain = append(chain, paddedSelfSigned(t, 10<<10))
	}
	_, err = h.tlsClientCertificate(&tls.ConnectionState{PeerCertificates: chain})
	g.Expect(err).To(MatchError(errMalformedCertificate))
	g.Expect(err).To(MatchError(ContainSubstring("the client certificate chain is %d bytes, at most %d", chainBytes(chain), maxChainBytes)))
	g.Expect(h.tlsCerts.entries).To(BeEmpty())
}

// TestAttackManyConnectionsCannotPinTheCertificateMemo: each TLS
// connection's certificate is parsed by its handshake and remembered
// under its own address. A client that opens as many connections as the
// memo holds, each with the largest certificate accepted, pins no more
// than the memo's byte bound.
func TestAttackManyConnectionsCannotPinTheCertificateMemo(t *testing.T) {
	g := NewWithT(t)
	h := &handler{tlsCerts: newCertMemo[*x509.Certificate]()}
	large := paddedSelfSigned(t, maxLeafBytes-1<<10)
	for range maxCertMemo {
		c, err := x509.ParseCertificate(large.Raw)
		g.Expect(err).NotTo(HaveOccurred())
		cc, err := h.tlsClientCertificate(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cc.Leaf).To(BeIdenticalTo(c))
	}
	total := 0
	for _, cc := range h.tlsCerts.entries {
		total += cc.size()
	}
	g.Expect(total).To(BeNumerically("<=", maxCertMemoBytes))
	g.Expect(h.tlsCerts.bytes).To(Equal(total))
	g.Expect(len(h.tlsCerts.entries)).To(BeNumerically(">", maxCertMemoBytes/(len(large.Raw)+1)-1))
}

// paddedSelfSigned is a client certificate carrying pad bytes in an
// extension of no meaning.
func paddedSelfSigned(t *testing.T, pad int) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "padded"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Value: make([]byte, pad)}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
