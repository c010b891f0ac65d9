package verifier

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// BenchmarkForwardAuthCertificateTLS: a certificate alone, from the
// verifier's own TLS handshake, its verification cached.
func BenchmarkForwardAuthCertificateTLS(b *testing.B) {
	benchCertificate(b, nil, func(r *http.Request, c *testutil.Cert) {
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.Cert}}
	})
}

// BenchmarkForwardAuthCertificateNginx: the same from nginx's header,
// parsed on every request.
func BenchmarkForwardAuthCertificateNginx(b *testing.B) {
	benchCertificate(b, &ForwardedCertificate{Format: ForwardedNginx, TrustedHops: []string{"192.0.2.0/24"}}, func(r *http.Request, c *testutil.Cert) {
		r.Header.Set("X-SSL-Client-Cert", escapedPEM(c.Cert))
	})
}

func benchCertificate(b *testing.B, fwd *ForwardedCertificate, present func(*http.Request, *testutil.Cert)) {
	ca := testutil.NewCA(b, "corp")
	auth, err := LoadAuthorities([]CertificateAuthority{{Name: "corp", CAFile: ca.WriteFile(b, b.TempDir(), "corp")}})
	if err != nil {
		b.Fatal(err)
	}
	f := newFixture(&testing.T{}, Options{Authorities: auth})
	f.clock.SetTime(time.Now())
	f.issueReporterKey()
	h, err := newTestHandler(f.v, Config{ClientCertificates: ClientCertificates{Forwarded: fwd}})
	if err != nil {
		b.Fatal(err)
	}
	// The endpoint of an mTLS site, the only one where a trusted hop's
	// certificate header is read.
	r := httptest.NewRequest(http.MethodGet, MTLSEnvoyPrefix+"/acme/payments/investigations/INV-7", nil)
	present(r, ca.Issue(b, reporterOptions))
	servePermitted(b, h, r)
}
