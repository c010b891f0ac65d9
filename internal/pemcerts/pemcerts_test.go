package pemcerts_test

import (
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
