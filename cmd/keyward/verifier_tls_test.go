package main

import (
	"context"
	"crypto/tls"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/internal/verifierflags"
)

// verifierPKI is a serving certificate for 127.0.0.1, a client CA in a
// file, and client certificates in files for curl.
type verifierPKI struct {
	dir                         string
	serverCA, clientCA, otherCA *testutil.CA
	serverCAFile, clientCAFile  string
	certFile, keyFile           string
	client, other, selfSigned   curlCert
}

// curlCert is a client certificate and key in files, and the name the
// handlers see.
type curlCert struct{ cn, certFile, keyFile string }

func newVerifierPKI(t *testing.T) *verifierPKI {
	p := &verifierPKI{dir: t.TempDir()}
	p.serverCA, p.clientCA, p.otherCA = testutil.NewCA(t, "serving CA"), testutil.NewCA(t, "client CA"), testutil.NewCA(t, "other CA")
	p.serverCAFile = p.serverCA.WriteFile(t, p.dir, "serving-ca")
	p.clientCAFile = p.clientCA.WriteFile(t, p.dir, "ca")
	p.certFile, p.keyFile = p.serverCA.Issue(t, testutil.CertOptions{CommonName: "verifier", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}).WriteFiles(t, p.dir, "tls")
	p.client = p.curlCert(t, p.clientCA.Issue(t, testutil.CertOptions{CommonName: "client"}), "client")
	p.other = p.curlCert(t, p.otherCA.Issue(t, testutil.CertOptions{CommonName: "other"}), "other")
	p.selfSigned = p.curlCert(t, testutil.SelfSigned(t, testutil.CertOptions{CommonName: "self-signed"}), "self-signed")
	return p
}

// curlCert writes a client certificate and its key into the PKI's
// directory under name.
func (p *verifierPKI) curlCert(t *testing.T, c *testutil.Cert, name string) curlCert {
	t.Helper()
	cf, kf := c.WriteFiles(t, p.dir, name)
	return curlCert{cn: c.Cert.Subject.CommonName, certFile: cf, keyFile: kf}
}

// curl asks the verifier's decision port for a decision with the real
// curl, presenting cert unless it is zero, and returns curl's error (a
// refused handshake) or the HTTP status.
func (p *verifierPKI) curl(t *testing.T, addr string, cert curlCert) (string, error) {
	t.Helper()
	return p.curlURL(t, cert, "%{http_code}", "https://"+addr+"/v1/decision",
		"--header", "Content-Type: application/json",
		"--data", `{"subject":{"credential":"keyward_unknown"},"resource":{"org":"acme","project":"payments","type":"investigations"},"action":{"id":"read"}}`)
}

// curlURL requests url with the real curl, trusting the serving CA and
// presenting cert unless it is zero, with args before the URL, and
// returns curl's error (a refused handshake) or what writeOut asks curl
// to write.
func (p *verifierPKI) curlURL(t *testing.T, cert curlCert, writeOut, url string, args ...string) (string, error) {
	t.Helper()
	curl := testutil.Program(t, "curl", "curl")
	args = append([]string{"--silent", "--show-error", "--max-time", "10", "--cacert", p.serverCAFile,
		"--output", "/dev/null", "--write-out", writeOut}, args...)
	if cert.certFile != "" {
		args = append(args, "--cert", cert.certFile, "--key", cert.keyFile)
	}
	out, err := exec.Command(curl, append(args, url)...).CombinedOutput()
	if err != nil {
		return "", &curlError{err: err, out: string(out)}
	}
	return strings.TrimSpace(string(out)), nil
}

type curlError struct {
	err error
	out string
}

func (e *curlError) Error() string { return e.err.Error() + ": " + e.out }

// startTLSVerifier runs the verifier with TLS on its request ports and
// waits until the decision port completes a handshake.
func startTLSVerifier(t *testing.T, tlsFlags verifierflags.TLS) verifierOptions {
	o, _ := startTLSVerifierLogging(t, tlsFlags)
	return o
}

// startTLSVerifierLogging is startTLSVerifier with the verifier's log, at
// debug level, in the buffer it returns; with changes the options before
// the verifier starts (the namespace is the test's own).
func startTLSVerifierLogging(t *testing.T, tlsFlags verifierflags.TLS, with ...func(*verifierOptions)) (verifierOptions, *testutil.SyncBuffer) {
	t.Helper()
	ctx, cfg, k8s := sharedAPIServer(t)
	g := NewWithT(t)
	ns := testNamespace("keyward-tls")
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	o := testVerifierOptions(t, ns)
	o.TLS = tlsFlags
	o.tlsReloadInterval = 50 * time.Millisecond
	for _, w := range with {
		w(&o)
	}
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	logs := &testutil.SyncBuffer{}
	logger := zap.New(zap.WriteTo(logs), zap.Level(zapcore.DebugLevel))
	go func() { done <- serveVerifier(serveCtx, o, cfg, logger) }()
	t.Cleanup(func() {
		stop()
		g.Eventually(done).WithTimeout(15 * time.Second).Should(Receive(BeNil()))
	})
	waitFor(t, done, 30*time.Second, "/readyz on the plain probe port", func() error { return httpOK("http://" + o.ProbeAddr + "/readyz") })
	return o, logs
}

// The verifier's own TLS listener, asked with curl --cert in each client
// certificate mode.
func TestVerifierTLSClientCertificateModesWithCurl(t *testing.T) {
	p := newVerifierPKI(t)
	none := curlCert{}
	for _, tc := range []struct {
		mode string
		// accepted and refused are the certificates whose handshake
		// succeeds and fails.
		accepted, refused []curlCert
	}{
		{"none", []curlCert{none, p.client, p.selfSigned}, nil},
		{"request", []curlCert{none, p.client, p.other, p.selfSigned}, nil},
		{"optional", []curlCert{none, p.client}, []curlCert{p.other, p.selfSigned}},
		{"required", []curlCert{p.client}, []curlCert{none, p.other, p.selfSigned}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			g := NewWithT(t)
			flags := verifierflags.TLS{CertFile: p.certFile, KeyFile: p.keyFile, ClientAuth: tc.mode}
			if tc.mode == "optional" || tc.mode == "required" {
				flags.ClientCAFile = p.clientCAFile
			}
			o := startTLSVerifier(t, flags)
			for _, c := range tc.accepted {
				status, err := p.curl(t, o.BindAddr, c)
				g.Expect(err).NotTo(HaveOccurred(), "certificate %q", c.cn)
				g.Expect(status).To(Equal("200"), "certificate %q", c.cn)
			}
			for _, c := range tc.refused {
				_, err := p.curl(t, o.BindAddr, c)
				g.Expect(err).To(HaveOccurred(), "certificate %q must be refused", c.cn)
			}
			// The public port serves the same TLS.
			conn, err := tls.Dial("tcp", o.PublicAddr, &tls.Config{RootCAs: p.serverCA.Pool(), MinVersion: tls.VersionTLS12,
				Certificates: []tls.Certificate{mustPair(t, p.client)}})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(conn.ConnectionState().PeerCertificates[0].Subject.CommonName).To(Equal("verifier"))
			conn.Close()
		})
	}
}

// A renewed serving certificate and a changed client CA bundle are used
// without a restart.
func TestVerifierTLSReloadsItsFiles(t *testing.T) {
	g := NewWithT(t)
	p := newVerifierPKI(t)
	o := startTLSVerifier(t, verifierflags.TLS{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.clientCAFile, ClientAuth: "required"})

	served := func() string {
		conn, err := tls.Dial("tcp", o.BindAddr, &tls.Config{RootCAs: p.serverCA.Pool(), MinVersion: tls.VersionTLS12,
			Certificates: []tls.Certificate{mustPair(t, p.client)}})
		if err != nil {
			return err.Error()
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	renewed := p.serverCA.Issue(t, testutil.CertOptions{CommonName: "verifier", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	g.Expect(served()).NotTo(Equal(renewed.Cert.SerialNumber.String()))
	renewed.WriteFiles(t, p.dir, "tls")
	g.Eventually(served).WithTimeout(10 * time.Second).Should(Equal(renewed.Cert.SerialNumber.String()))

	_, err := p.curl(t, o.BindAddr, p.other)
	g.Expect(err).To(HaveOccurred())
	testutil.WriteFile(t, p.clientCAFile, append(p.clientCA.CertPEM(), p.otherCA.CertPEM()...))
	g.Eventually(func() (string, error) { return p.curl(t, o.BindAddr, p.other) }).WithTimeout(10 * time.Second).Should(Equal("200"))
	g.Expect(p.curl(t, o.BindAddr, p.client)).To(Equal("200"))
}

// A refused handshake is in the verifier's log, at debug level, with why.
func TestVerifierLogsRefusedHandshakes(t *testing.T) {
	g := NewWithT(t)
	p := newVerifierPKI(t)
	o, logs := startTLSVerifierLogging(t, verifierflags.TLS{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.clientCAFile, ClientAuth: "required"})
	_, err := p.curl(t, o.BindAddr, curlCert{})
	g.Expect(err).To(HaveOccurred())
	g.Eventually(logs.String).WithTimeout(5 * time.Second).Should(SatisfyAll(
		ContainSubstring(`"logger":"http"`), ContainSubstring("TLS handshake error"), ContainSubstring("client didn't provide a certificate")))
}

// Bad TLS input stops the verifier before it connects anywhere, with an
// error that says what is wrong.
func TestRunVerifierRefusesBadTLS(t *testing.T) {
	p := newVerifierPKI(t)
	missing := filepath.Join(p.dir, "missing.crt")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-client-auth=required"}, `TLS of the request ports: client certificate mode "required" needs TLS`},
		{[]string{"--tls-cert-file=" + p.certFile, "--tls-key-file=" + p.keyFile, "--tls-client-auth=sometimes"}, `unknown client certificate mode "sometimes"`},
		{[]string{"--tls-cert-file=" + missing, "--tls-key-file=" + p.keyFile}, "reading the TLS certificate: open " + missing},
		{[]string{"--tls-cert-file=" + p.certFile, "--tls-key-file=" + p.client.keyFile}, "private key does not match public key"},
		{[]string{"--tls-cert-file=" + p.certFile, "--tls-key-file=" + p.keyFile, "--tls-client-auth=optional", "--tls-client-ca-file=" + p.keyFile}, "client CA bundle " + p.keyFile + ": a PRIVATE KEY block; a CA bundle holds only CERTIFICATE blocks"},
	} {
		NewWithT(t).Expect(runVerifier(tc.args)).To(MatchError(ContainSubstring(tc.want)))
	}
}

func mustPair(t *testing.T, c curlCert) tls.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}
