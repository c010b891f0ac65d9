package main

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/internal/verifierflags"
	"github.com/keyward-dev/keyward/verifier"
)

// withOAuth gives the verifier an issuer on its public port, so that the
// public port serves the RFC 8414 metadata.
func withOAuth(t *testing.T, dir string) func(*verifierOptions) {
	return func(o *verifierOptions) {
		o.ConfigPath = dir + "/verifier.yaml"
		testutil.WriteFile(t, o.ConfigPath, []byte("oauth:\n  issuer: https://"+o.PublicAddr+"\n"))
	}
}

// The decision port requires a certificate from the proxies' CA while the
// public port, for RFC 8705 self_signed_tls_client_auth clients, takes a
// self-signed one at the handshake: the same self-signed certificate gets
// the metadata from the public port and no handshake from the decision
// port.
func TestVerifierPublicPortHasItsOwnClientCertificateMode(t *testing.T) {
	g := NewWithT(t)
	p := newVerifierPKI(t)
	o, _ := startTLSVerifierLogging(t, verifierflags.TLS{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.clientCAFile, ClientAuth: "required",
		PublicClientAuth: "request"}, withOAuth(t, p.dir))
	metadata := func(addr string, cert curlCert) (string, error) {
		return p.curlURL(t, cert, "%{http_code}", "https://"+addr+verifier.ASMetadataPath)
	}

	for _, c := range []curlCert{p.selfSigned, p.other, p.client, {}} {
		g.Eventually(func() (string, error) { return metadata(o.PublicAddr, c) }).WithTimeout(10*time.Second).Should(Equal("200"), "certificate %q on the public port", c.cn)
	}
	for _, c := range []curlCert{p.selfSigned, p.other, {}} {
		_, err := metadata(o.BindAddr, c)
		g.Expect(err).To(HaveOccurred(), "certificate %q: the decision port's handshake must refuse it", c.cn)
	}
	g.Expect(p.curl(t, o.BindAddr, p.client)).To(Equal("200"), "the proxies' certificate on the decision port")
}

// Each port's TLS is read again on its own: a renewed serving certificate
// reaches both, and the public port's CA bundle changes only the public
// port.
func TestVerifierReloadsBothPortsTLS(t *testing.T) {
	g := NewWithT(t)
	p := newVerifierPKI(t)
	publicCAFile := p.otherCA.WriteFile(t, p.dir, "public-ca")
	o, _ := startTLSVerifierLogging(t, verifierflags.TLS{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.clientCAFile, ClientAuth: "required",
		PublicClientAuth: "optional", PublicClientCAFile: publicCAFile}, withOAuth(t, p.dir))
	served := func(addr string, cert curlCert) func() string {
		return func() string {
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.serverCA.Pool(), MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{mustPair(t, cert)}})
			if err != nil {
				return err.Error()
			}
			defer conn.Close()
			// TLS 1.3 reports a refused client certificate on the first read.
			if err := conn.Handshake(); err != nil {
				return err.Error()
			}
			return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
		}
	}
	renewed := p.serverCA.Issue(t, testutil.CertOptions{CommonName: "verifier", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	renewed.WriteFiles(t, p.dir, "tls")
	g.Eventually(served(o.BindAddr, p.client)).WithTimeout(10 * time.Second).Should(Equal(renewed.Cert.SerialNumber.String()))
	g.Eventually(served(o.PublicAddr, p.other)).WithTimeout(10 * time.Second).Should(Equal(renewed.Cert.SerialNumber.String()))

	metadata := func(cert curlCert) func() (string, error) {
		return func() (string, error) {
			return p.curlURL(t, cert, "%{http_code}", "https://"+o.PublicAddr+verifier.ASMetadataPath)
		}
	}
	_, err := metadata(p.client)()
	g.Expect(err).To(HaveOccurred(), "the client CA is the decision port's, not the public port's")
	testutil.WriteFile(t, publicCAFile, append(p.otherCA.CertPEM(), p.clientCA.CertPEM()...))
	g.Eventually(metadata(p.client)).WithTimeout(10 * time.Second).Should(Equal("200"))
	_, err = p.curl(t, o.BindAddr, p.other)
	g.Expect(err).To(HaveOccurred(), "the public port's CA bundle does not reach the decision port")
}

// Bad public-port TLS input stops the verifier with an error naming the
// --public-tls-* flag.
func TestRunVerifierRefusesBadPublicTLS(t *testing.T) {
	p := newVerifierPKI(t)
	serving := []string{"--tls-cert-file=" + p.certFile, "--tls-key-file=" + p.keyFile}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--public-tls-client-auth=request"},
			`TLS of the public port (--public-tls-client-auth="request", --public-tls-client-ca-file=""): client certificate mode "request" needs TLS`},
		{append(serving, "--public-tls-client-auth=sometimes"), `--public-tls-client-auth="sometimes", --public-tls-client-ca-file=""): unknown client certificate mode "sometimes"`},
		{append(serving, "--public-tls-client-auth=optional"), `--public-tls-client-auth="optional", --public-tls-client-ca-file=""): client certificate mode "optional" verifies against a client CA file: give one`},
		{append(serving, "--public-tls-client-auth=request", "--public-tls-client-ca-file="+p.clientCAFile), `a client CA file is only used by modes "optional" and "required", not "request"`},
		{append(serving, "--tls-client-auth=required", "--tls-client-ca-file="+p.clientCAFile, "--public-tls-client-ca-file="+p.clientCAFile),
			"--public-tls-client-ca-file needs --public-tls-client-auth (optional or required); without both the public port takes --tls-client-auth and --tls-client-ca-file"},
		{append(serving, "--public-bind-address=0", "--public-tls-client-auth=request"), "the public port is disabled (--public-bind-address=0)"},
		{append(serving, "--public-tls-client-auth=required", "--public-tls-client-ca-file="+p.keyFile),
			"TLS of the public port (--public-tls-client-ca-file): client CA bundle " + p.keyFile + ": a PRIVATE KEY block; a CA bundle holds only CERTIFICATE blocks"},
	} {
		NewWithT(t).Expect(runVerifier(tc.args)).To(MatchError(ContainSubstring(tc.want)), "%v", tc.args)
	}
}
