package pemcerts_test

import (
	"crypto/x509"
	"encoding/pem"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/pemcerts"
	"github.com/keyward-dev/keyward/internal/testutil"
)

func TestParse(t *testing.T) {
	g := NewWithT(t)
	one := testutil.NewCA(t, "ca").CertPEM()
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("ignored")})
	certs, err := pemcerts.Parse(append(append(append([]byte{}, one...), key...), testutil.NewCA(t, "ca").CertPEM()...))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(certs).To(HaveLen(2), "other blocks are skipped")

	_, err = pemcerts.Parse([]byte("not PEM"))
	g.Expect(err).To(MatchError("no PEM CERTIFICATE block in it"))
	broken := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")})
	_, err = pemcerts.Parse(append(append([]byte{}, one...), broken...))
	g.Expect(err).To(MatchError(ContainSubstring("certificate 2: ")), "a block that does not parse is an error, not skipped")
}

func TestPool(t *testing.T) {
	g := NewWithT(t)
	corp, other := testutil.NewCA(t, "corp"), testutil.NewCA(t, "other")
	pool, err := pemcerts.Pool(append(corp.CertPEM(), other.CertPEM()...))
	g.Expect(err).NotTo(HaveOccurred())
	for _, ca := range []*testutil.CA{corp, other} {
		leaf := ca.Issue(t, testutil.CertOptions{CommonName: "client"}).Cert
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		g.Expect(err).NotTo(HaveOccurred(), "a certificate of %s", ca.Cert.Subject.CommonName)
	}
	_, err = pemcerts.Pool([]byte("not PEM"))
	g.Expect(err).To(MatchError("no PEM CERTIFICATE block in it"), "the bundle is read as Parse reads it")

	// A key pasted into a CA bundle stops it, where a certificate file
	// (Parse) may carry its key.
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret")})
	_, err = pemcerts.Pool(append(corp.CertPEM(), key...))
	g.Expect(err).To(MatchError("a PRIVATE KEY block; a CA bundle holds only CERTIFICATE blocks"))
}

// A chain from someone else is bounded and must be all certificates:
// no key, nothing cut off after them.
func TestChain(t *testing.T) {
	g := NewWithT(t)
	one := testutil.NewCA(t, "ca").CertPEM()
	certs, err := pemcerts.Chain(append(append([]byte{}, one...), one...), 2)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(certs).To(HaveLen(2))
	_, err = pemcerts.Chain(append(append(append([]byte{}, one...), one...), one...), 2)
	g.Expect(err).To(MatchError("more than 2 certificates"))
	_, err = pemcerts.Chain(append(append([]byte{}, one...), "-----BEGIN CERT"...), 2)
	g.Expect(err).To(MatchError("text after the PEM certificates"))
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret")})
	_, err = pemcerts.Chain(append(append([]byte{}, one...), key...), 2)
	g.Expect(err).To(MatchError("a PRIVATE KEY block; a certificate chain holds only CERTIFICATE blocks"))
}
