package verifier

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// Real nginx terminates mutual TLS (docs/proxies/nginx-mtls.conf) and
// passes the client's certificate to the verifier in X-SSL-Client-Cert;
// real curl is the client. nginx refuses a certificate of another CA;
// the verifier refuses one of the right CA bound to no key, and one a
// client names in a header of its own.
func TestRealNginxMutualTLS(t *testing.T) {
	f := newCertFixture(t, Options{})
	dir := t.TempDir()
	clientCA := f.corp.WriteFile(t, dir, "client-ca")
	serverCert, serverKey := f.corp.Issue(t, testutil.CertOptions{CommonName: "nginx", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}).WriteFiles(t, dir, "server")

	bound := f.corp.Issue(t, reporterOptions)
	k := f.issue(readScope)
	f.bind(k, certbind.Binding{URI: spiffeReporter, Authority: "corp"}, mutualTLSOnly...)
	unbound := f.corp.Issue(t, testutil.CertOptions{CommonName: "stranger", URIs: []string{"spiffe://example.org/ns/payments/sa/stranger"}})
	foreign := f.other.Issue(t, reporterOptions)

	hs, err := NewHandlers(f.v, Config{ClientCertificates: ClientCertificates{
		Forwarded: &ForwardedCertificate{Format: ForwardedNginx, Header: "X-SSL-Client-Cert", TrustedHops: []string{"127.0.0.0/8"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	verifierSrv := httptest.NewServer(hs.Decisions)
	defer verifierSrv.Close()
	var upstreamSaw atomic.Pointer[http.Header]
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		upstreamSaw.Store(&h)
		fmt.Fprint(w, "hello from upstream")
	}))
	defer upstream.Close()
	listen := startNginxConf(t, "nginx-mtls.conf", map[string]string{
		"Upstream": strings.TrimPrefix(upstream.URL, "http://"), "Verifier": strings.TrimPrefix(verifierSrv.URL, "http://"),
		"ServerCert": serverCert, "ServerKey": serverKey, "ClientCA": clientCA,
	})
	url := "https://" + listen + "/acme/payments/investigations/INV-7"

	get := func(cert *testutil.Cert, name string, headers ...string) int {
		t.Helper()
		return curlStatus(t, url, clientCA, cert, name, headers...)
	}
	g := NewWithT(t)

	g.Expect(get(bound, "bound")).To(Equal(http.StatusOK))
	saw := upstreamSaw.Load()
	g.Expect(saw).NotTo(BeNil())
	g.Expect((*saw).Get(HeaderKeyID)).To(Equal(k.rec.KeyID))
	g.Expect((*saw).Get(HeaderMatchedScope)).To(Equal(readScope))

	upstreamSaw.Store(nil)
	g.Expect(get(foreign, "foreign")).To(Equal(http.StatusBadRequest), "nginx refuses a certificate of another CA")
	g.Expect(get(nil, "none")).To(Equal(http.StatusBadRequest), "nginx requires a certificate")
	g.Expect(get(unbound, "unbound")).To(Equal(http.StatusUnauthorized), "the verifier refuses a certificate bound to no key")
	// The client's own X-SSL-Client-Cert naming the bound certificate is
	// replaced by nginx with the one the client proved it holds.
	g.Expect(get(unbound, "unbound-claiming", "X-SSL-Client-Cert: "+escapedPEM(bound.Cert))).To(Equal(http.StatusUnauthorized))
	g.Expect(upstreamSaw.Load()).To(BeNil(), "no refused request reached the upstream")
}

// curlStatus GETs url with the real curl, trusting caFile, presenting
// cert (written to files as name) unless it is nil, with the headers
// given, and returns the HTTP status.
func curlStatus(t *testing.T, url, caFile string, cert *testutil.Cert, name string, headers ...string) int {
	t.Helper()
	curl := testutil.Program(t, "curl", "curl", "/usr/bin/curl")
	args := []string{"--silent", "--show-error", "--max-time", "10", "--output", "/dev/null", "--write-out", "%{http_code}", "--cacert", caFile}
	if cert != nil {
		certFile, keyFile := cert.WriteFiles(t, t.TempDir(), name)
		args = append(args, "--cert", certFile, "--key", keyFile)
	}
	for _, h := range headers {
		args = append(args, "--header", h)
	}
	out, err := exec.Command(curl, append(args, url)...).Output()
	if err != nil {
		t.Fatalf("curl %s: %v", name, err)
	}
	code, err := strconv.Atoi(string(out))
	if err != nil {
		t.Fatalf("curl %s: status %q", name, out)
	}
	return code
}
