package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/servingtls"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/test/integration/harness"
	"github.com/keyward-dev/keyward/verifier"
)

// The harness's verifier over mutual TLS, as `keyward verifier
// --tls-client-auth=required` serves it: a client with a certificate of
// the configured CA is answered, one without is refused at the handshake.
func TestHarnessVerifierOverMutualTLS(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	serverCA, clientCA := testutil.NewCA(t, "serving CA"), testutil.NewCA(t, "client CA")
	certFile, keyFile := serverCA.Issue(t, testutil.CertOptions{CommonName: "verifier", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}).WriteFiles(t, dir, "tls")
	src, err := servingtls.Load(servingtls.Files{CertFile: certFile, KeyFile: keyFile, ClientCAFile: clientCA.WriteFile(t, dir, "ca"), ClientAuth: servingtls.ClientAuthRequired})
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := harness.StartVerifier(ctx, restConfig, harness.VerifierOptions{Namespace: verifierNamespace, User: verifierUser, Audit: io.Discard, TLS: src})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(v.URL).To(HavePrefix("https://"))

	client := func(cert *testutil.Cert) *http.Client {
		c := &tls.Config{RootCAs: serverCA.Pool(), MinVersion: tls.VersionTLS12}
		if cert != nil {
			c.Certificates = []tls.Certificate{cert.TLSCertificate()}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: c}}
	}
	decide := func(c *http.Client) (string, error) {
		resp, err := c.Post(v.URL+"/v1/decision", "application/json", strings.NewReader(
			`{"subject":{"credential":"keyward_unknown"},"resource":{"org":"acme","project":"payments","type":"investigations"},"action":{"id":"read"}}`))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var out struct{ Decision string }
		err = json.NewDecoder(resp.Body).Decode(&out)
		return out.Decision, err
	}
	proxy := client(clientCA.Issue(t, testutil.CertOptions{CommonName: "proxy"}))
	// Indeterminate until the verifier has loaded the records.
	g.Eventually(func() (string, error) { return decide(proxy) }).WithTimeout(waitFor).Should(Equal("Deny"))
	_, err = decide(client(nil))
	g.Expect(err).To(HaveOccurred(), "no client certificate")

	// The harness reads the configuration's authorities as `keyward
	// verifier` does: a bundle that is not there stops it.
	_, err = harness.StartVerifier(ctx, restConfig, harness.VerifierOptions{Namespace: verifierNamespace, User: verifierUser, Audit: io.Discard,
		Config: verifier.Config{ClientCertificates: verifier.ClientCertificates{Authorities: []verifier.CertificateAuthority{{Name: "corp", CAFile: filepath.Join(dir, "missing.crt")}}}}})
	g.Expect(err).To(MatchError(ContainSubstring("clientCertificates.authorities[0]")))
}
