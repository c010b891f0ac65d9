package pemcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func certificatePEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestParse(t *testing.T) {
	g := NewWithT(t)
	one := certificatePEM(t)
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("ignored")})
	certs, err := Parse(append(append(append([]byte{}, one...), key...), certificatePEM(t)...))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(certs).To(HaveLen(2), "other blocks are skipped")

	_, err = Parse([]byte("not PEM"))
	g.Expect(err).To(MatchError("no PEM CERTIFICATE block in it"))
	broken := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")})
	_, err = Parse(append(append([]byte{}, one...), broken...))
	g.Expect(err).To(MatchError(ContainSubstring("certificate 2: ")), "a block that does not parse is an error, not skipped")
}
