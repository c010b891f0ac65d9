package servingtls

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// pki is a server certificate in files, a client CA in a file, and the
// certificates the tests present.
type pki struct {
	dir                 string
	serverCA, clientCA  *testutil.CA
	otherCA             *testutil.CA
	certFile, keyFile   string
	caFile              string
	client, otherClient *testutil.Cert
}

func newPKI(t *testing.T) *pki {
	p := &pki{dir: t.TempDir()}
	p.serverCA = testutil.NewCA(t, "server CA")
	p.clientCA = testutil.NewCA(t, "client CA")
	p.otherCA = testutil.NewCA(t, "other CA")
	p.certFile, p.keyFile = p.serverCA.Issue(t, testutil.CertOptions{CommonName: "verifier", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}).WriteFiles(t, p.dir, "tls")
	p.caFile = p.clientCA.WriteFile(t, p.dir, "ca")
	p.client = p.clientCA.Issue(t, testutil.CertOptions{CommonName: "client"})
	p.otherClient = p.otherCA.Issue(t, testutil.CertOptions{CommonName: "other"})
	return p
}

func (p *pki) files(mode ClientAuth) Files {
	f := Files{CertFile: p.certFile, KeyFile: p.keyFile, ClientAuth: mode}
	if mode.verifies() {
		f.ClientCAFile = p.caFile
	}
	return f
}

// serve runs an HTTPS server on src whose handler answers with the common
// name of the client certificate it was given, or "-".
func serve(t *testing.T, src *Source) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // refused handshakes are expected
		TLSConfig:         src.ServerConfig(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(r.TLS.PeerCertificates) == 0 {
				fmt.Fprint(w, "-")
				return
			}
			fmt.Fprint(w, r.TLS.PeerCertificates[0].Subject.CommonName)
		}),
	}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + l.Addr().String()
}

// client trusts the server CA and presents cert (nil: none), with a new
// connection per request unless keepAlive.
func (p *pki) httpClient(cert *testutil.Cert, keepAlive bool) *http.Client {
	c := &tls.Config{RootCAs: p.serverCA.Pool(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		// Sent whatever CAs the server names, as curl does: crypto/tls
		// would otherwise keep back a certificate the server's list does
		// not cover, and the server's refusal would go untested.
		pair := cert.TLSCertificate()
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: c, DisableKeepAlives: !keepAlive, ForceAttemptHTTP2: true}}
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestClientAuthModes(t *testing.T) {
	p := newPKI(t)
	selfSigned := testutil.SelfSigned(t, testutil.CertOptions{CommonName: "self-signed"})
	for _, tc := range []struct {
		mode ClientAuth
		cert *testutil.Cert
		// want is what the handler saw; "" means the handshake is refused.
		want string
	}{
		{ClientAuthNone, nil, "-"},
		{ClientAuthNone, p.client, "-"}, // not asked for, not sent
		{ClientAuthRequest, nil, "-"},
		{ClientAuthRequest, selfSigned, "self-signed"},
		{ClientAuthRequest, p.otherClient, "other"},
		{ClientAuthOptional, nil, "-"},
		{ClientAuthOptional, p.client, "client"},
		{ClientAuthOptional, p.otherClient, ""},
		{ClientAuthOptional, selfSigned, ""},
		{ClientAuthRequired, nil, ""},
		{ClientAuthRequired, p.client, "client"},
		{ClientAuthRequired, p.otherClient, ""},
		{ClientAuthRequired, selfSigned, ""},
	} {
		name := string(tc.mode) + "/"
		if tc.cert != nil {
			name += tc.cert.Cert.Subject.CommonName
		}
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			src, err := Load(p.files(tc.mode))
			g.Expect(err).NotTo(HaveOccurred())
			got, err := get(p.httpClient(tc.cert, false), serve(t, src))
			if tc.want == "" {
				g.Expect(err).To(HaveOccurred(), "the handshake must be refused")
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestServesHTTP2AndHTTP1AndNothingBelowTLS12(t *testing.T) {
	g := NewWithT(t)
	p := newPKI(t)
	src, err := Load(p.files(ClientAuthNone))
	g.Expect(err).NotTo(HaveOccurred())
	url := serve(t, src)
	for _, proto := range []string{"h2", "http/1.1"} {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{RootCAs: p.serverCA.Pool(), NextProtos: []string{proto}, MinVersion: tls.VersionTLS12})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(conn.ConnectionState().NegotiatedProtocol).To(Equal(proto))
		conn.Close()
	}
	_, err = tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{RootCAs: p.serverCA.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}) //nolint:gosec // proving it is refused
	g.Expect(err).To(HaveOccurred())
}

// A renewed certificate is served to new connections without a restart;
// a connection opened before keeps working.
func TestServerCertificateRotation(t *testing.T) {
	g := NewWithT(t)
	p := newPKI(t)
	src, err := Load(p.files(ClientAuthNone))
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go src.Run(ctx, 20*time.Millisecond, logr.Discard())
	url := serve(t, src)
	first := src.Leaf().SerialNumber

	kept := p.httpClient(nil, true)
	servedTo := func(c *http.Client) func(Gomega) string {
		return func(g Gomega) string {
			resp, err := c.Get(url)
			g.Expect(err).NotTo(HaveOccurred())
			defer resp.Body.Close()
			return resp.TLS.PeerCertificates[0].SerialNumber.String()
		}
	}
	g.Expect(servedTo(kept)(g)).To(Equal(first.String()))

	renewed := p.serverCA.Issue(t, testutil.CertOptions{CommonName: "verifier", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	renewed.WriteFiles(t, p.dir, "tls")
	g.Eventually(servedTo(p.httpClient(nil, false))).WithTimeout(5 * time.Second).Should(Equal(renewed.Cert.SerialNumber.String()))
	g.Expect(servedTo(kept)(g)).To(Equal(first.String()), "the connection opened before the renewal keeps its certificate")
}

// A client CA added to the bundle is accepted and one removed is refused,
// on resumed sessions too.
func TestClientCABundleReload(t *testing.T) {
	g := NewWithT(t)
	p := newPKI(t)
	src, err := Load(p.files(ClientAuthRequired))
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go src.Run(ctx, 20*time.Millisecond, logr.Discard())
	url := serve(t, src)

	resuming := p.httpClient(p.client, false)
	resuming.Transport.(*http.Transport).TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	g.Expect(get(resuming, url)).To(Equal("client"))
	g.Expect(get(p.httpClient(p.otherClient, false), url)).Error().To(HaveOccurred())

	testutil.WriteFile(t, p.caFile, p.otherCA.CertPEM())
	g.Eventually(func() (string, error) { return get(p.httpClient(p.otherClient, false), url) }).WithTimeout(5 * time.Second).Should(Equal("other"))
	g.Expect(get(p.httpClient(p.client, false), url)).Error().To(HaveOccurred(), "a client of the CA removed from the bundle")
	g.Expect(get(resuming, url)).Error().To(HaveOccurred(), "a session resumed from before the removal")
}

// A file replaced by something unusable is refused and the material
// already served stays.
func TestBadReloadKeepsServing(t *testing.T) {
	g := NewWithT(t)
	p := newPKI(t)
	src, err := Load(p.files(ClientAuthRequired))
	g.Expect(err).NotTo(HaveOccurred())
	url := serve(t, src)
	served := src.Leaf().SerialNumber

	testutil.WriteFile(t, p.keyFile, p.client.KeyPEM(t))
	_, err = src.Reload()
	g.Expect(err).To(MatchError(ContainSubstring("private key does not match public key")))
	p.serverCA.Issue(t, testutil.CertOptions{}).WriteFiles(t, p.dir, "tls")
	testutil.WriteFile(t, p.caFile, []byte("not a certificate"))
	_, err = src.Reload()
	g.Expect(err).To(MatchError(ContainSubstring("no PEM CERTIFICATE block")))

	g.Expect(src.Leaf().SerialNumber).To(Equal(served))
	g.Expect(get(p.httpClient(p.client, false), url)).To(Equal("client"))
}

func TestReloadOfUnchangedFilesChangesNothing(t *testing.T) {
	g := NewWithT(t)
	p := newPKI(t)
	src, err := Load(p.files(ClientAuthOptional))
	g.Expect(err).NotTo(HaveOccurred())
	changed, err := src.Reload()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeFalse())
}

func TestLoadRefusesBadInput(t *testing.T) {
	p := newPKI(t)
	missing := filepath.Join(p.dir, "missing.crt")
	empty, notPEM := filepath.Join(p.dir, "empty.crt"), filepath.Join(p.dir, "not-pem.crt")
	g := NewWithT(t)
	g.Expect(os.WriteFile(empty, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)).To(Succeed())
	g.Expect(os.WriteFile(notPEM, []byte("not PEM at all"), 0o600)).To(Succeed())
	_, foreignKey := p.client.WriteFiles(t, p.dir, "client")
	for _, tc := range []struct {
		name  string
		files Files
		want  string
	}{
		{"unknown mode", Files{CertFile: p.certFile, KeyFile: p.keyFile, ClientAuth: "maybe"}, `unknown client certificate mode "maybe" (one of none, request, optional, required)`},
		{"mode without TLS", Files{ClientAuth: ClientAuthRequest}, `client certificate mode "request" needs TLS`},
		{"CA without TLS", Files{ClientCAFile: p.caFile}, "a client CA file needs TLS"},
		{"certificate without key", Files{CertFile: p.certFile}, "a TLS certificate file without a key file"},
		{"key without certificate", Files{KeyFile: p.keyFile}, "a TLS key file without a certificate file"},
		{"verifying mode without CA", Files{CertFile: p.certFile, KeyFile: p.keyFile, ClientAuth: ClientAuthRequired}, `client certificate mode "required" verifies against a client CA file`},
		{"CA nothing checks", Files{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.caFile, ClientAuth: ClientAuthRequest}, `a client CA file is only used by modes "optional" and "required", not "request"`},
		{"missing certificate", Files{CertFile: missing, KeyFile: p.keyFile}, "reading the TLS certificate: open " + missing},
		{"missing key", Files{CertFile: p.certFile, KeyFile: missing}, "reading the TLS key: open " + missing},
		{"certificate file without certificate", Files{CertFile: empty, KeyFile: p.keyFile}, "TLS certificate " + empty + ": no PEM CERTIFICATE block"},
		{"key of another certificate", Files{CertFile: p.certFile, KeyFile: foreignKey}, "private key does not match public key"},
		{"missing CA", Files{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: missing, ClientAuth: ClientAuthOptional}, "reading the client CA bundle: open " + missing},
		{"CA file without certificates", Files{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: notPEM, ClientAuth: ClientAuthOptional}, "client CA bundle " + notPEM + ": no PEM CERTIFICATE block"},
		{"CA file holding a key", Files{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: empty, ClientAuth: ClientAuthOptional}, "client CA bundle " + empty + ": a PRIVATE KEY block; a CA bundle holds only CERTIFICATE blocks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := Load(tc.files)
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
			// Files are named, never quoted: a key's PEM stays out of errors.
			g.Expect(err.Error()).NotTo(Or(ContainSubstring("-----BEGIN"), ContainSubstring("AAAA")))
		})
	}
}
