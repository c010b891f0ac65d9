package testutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority a test makes for itself: the tests of
// mutual TLS need certificates of every kind (expired, from another CA,
// with a SPIFFE ID), and a private key never leaves the test.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Cert is a certificate issued by a test CA, with its key and chain.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Issuer is the CA that signed it (nil when self-signed).
	Issuer *CA
}

// CertOptions say what a certificate names and when it is valid. Zero
// values give a client and server certificate valid from an hour ago for
// a day.
type CertOptions struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	URIs       []string
	Emails     []string
	NotBefore  time.Time
	NotAfter   time.Time
	// Key is the certificate's key pair; nil for a new P-256 key. The
	// FIPS tests give keys FIPS mode refuses (RSA 1024).
	Key crypto.Signer
}

// NewCA makes a self-signed CA named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	return newCA(t, "creating CA "+name, name, nil)
}

// newCA makes a CA named name, signed by parent, or by itself when parent
// is nil. what says what is made, for the failure.
func newCA(t testing.TB, what, name string, parent *CA) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"keyward tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.Cert, parent.Key
	}
	return &CA{Cert: create(t, what, tmpl, issuer, key, signer), Key: key}
}

// Issue signs a certificate usable by TLS clients and servers alike.
func (ca *CA) Issue(t testing.TB, o CertOptions) *Cert {
	t.Helper()
	return ca.sign(t, o.CommonName, o.template(t), o.keyPair(t))
}

// sign issues the certificate tmpl describes, named name, for key.
func (ca *CA) sign(t testing.TB, name string, tmpl *x509.Certificate, key crypto.Signer) *Cert {
	t.Helper()
	return &Cert{Cert: create(t, "issuing "+name, tmpl, ca.Cert, key, ca.Key), Key: key, Issuer: ca}
}

// SelfSigned makes a certificate that no CA issued (RFC 8705's
// self_signed_tls_client_auth).
func SelfSigned(t testing.TB, o CertOptions) *Cert {
	t.Helper()
	key := o.keyPair(t)
	tmpl := o.template(t)
	return &Cert{Cert: create(t, "self-signing "+o.CommonName, tmpl, tmpl, key, key), Key: key}
}

// create is every certificate's one way into being: tmpl for key's public
// half, signed by signer as issuer. what says what is made, for the
// failure.
func create(t testing.TB, what string, tmpl, issuer *x509.Certificate, key, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func (o CertOptions) template(t testing.TB) *x509.Certificate {
	t.Helper()
	notBefore, notAfter := o.NotBefore, o.NotAfter
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Hour)
	}
	if notAfter.IsZero() {
		notAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   serial(t),
		Subject:        pkix.Name{CommonName: o.CommonName},
		NotBefore:      notBefore,
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		DNSNames:       o.DNSNames,
		IPAddresses:    o.IPs,
		EmailAddresses: o.Emails,
	}
	for _, u := range o.URIs {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatalf("URI SAN %q: %v", u, err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	return tmpl
}

// CertPEM is the certificate in PEM.
func (c *CA) CertPEM() []byte { return certPEM(c.Cert) }

// CertPEM is the certificate in PEM.
func (c *Cert) CertPEM() []byte { return certPEM(c.Cert) }

// KeyPEM is the private key in PKCS #8 PEM.
func (c *Cert) KeyPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// TLSCertificate is the certificate and key for a tls.Config.
func (c *Cert) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}

// Pool is a pool holding the CA's certificate.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.Cert)
	return p
}

// WriteFiles writes the certificate and key as PEM files into dir, named
// <name>.crt and <name>.key, and returns their paths.
func (c *Cert) WriteFiles(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	WriteFile(t, certFile, c.CertPEM())
	WriteFile(t, keyFile, c.KeyPEM(t))
	return certFile, keyFile
}

// WriteFile writes the CA's certificate as a PEM file and returns its path.
func (c *CA) WriteFile(t testing.TB, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name+".crt")
	WriteFile(t, path, c.CertPEM())
	return path
}

// WriteFile writes b to path, replacing it atomically (a rename), as a
// mounted Secret's files change.
func WriteFile(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func (o CertOptions) keyPair(t testing.TB) crypto.Signer {
	t.Helper()
	if o.Key != nil {
		return o.Key
	}
	return newKey(t)
}

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
