package testutil

import (
	"crypto/x509"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// A certificate verifies against its own CA and no other, and an expired
// one is refused: the mutual-TLS tests rely on all three.
func TestIssuedCertificatesChainToTheirCAOnly(t *testing.T) {
	g := NewWithT(t)
	ca, other := NewCA(t, "ca"), NewCA(t, "other")
	leaf := ca.Issue(t, CertOptions{CommonName: "client", URIs: []string{"spiffe://example.org/ns/a/sa/b"}})
	opts := func(roots *x509.CertPool) x509.VerifyOptions {
		return x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	}
	_, err := leaf.Cert.Verify(opts(ca.Pool()))
	g.Expect(err).NotTo(HaveOccurred())
	_, err = leaf.Cert.Verify(opts(other.Pool()))
	g.Expect(err).To(HaveOccurred())
	g.Expect(leaf.Cert.URIs[0].String()).To(Equal("spiffe://example.org/ns/a/sa/b"))

	expired := ca.Issue(t, CertOptions{CommonName: "old", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	_, err = expired.Cert.Verify(opts(ca.Pool()))
	g.Expect(err).To(HaveOccurred())
}
