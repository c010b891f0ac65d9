package verifier

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// What the tests of real proxies (nginx, Caddy) share: the verifier and
// upstream a proxy sits between, the proxy's process, the requests sent
// through it and the certificates of its mutual TLS.

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proxyBackends are the two servers behind a real proxy: the verifier's
// decision endpoint and an upstream that keeps the headers of the last
// request that reached it.
type proxyBackends struct {
	// Verifier and Upstream are host:port.
	Verifier, Upstream string
	// upstreamSaw is nil until a request reaches the upstream; a test
	// stores nil to see that none reaches it from then on.
	upstreamSaw atomic.Pointer[http.Header]
}

func startProxyBackends(t *testing.T, v *Verifier, c Config) *proxyBackends {
	t.Helper()
	hs, err := NewHandlers(v, c)
	if err != nil {
		t.Fatal(err)
	}
	verifierSrv := httptest.NewServer(hs.Decisions)
	t.Cleanup(verifierSrv.Close)
	b := &proxyBackends{}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		b.upstreamSaw.Store(&h)
		fmt.Fprint(w, "hello from upstream")
	}))
	t.Cleanup(upstream.Close)
	b.Verifier = strings.TrimPrefix(verifierSrv.URL, "http://")
	b.Upstream = strings.TrimPrefix(upstream.URL, "http://")
	return b
}

// expectUpstreamSawKey checks that the upstream was told, by the
// verifier, the key of a request it permitted, with scopes as the key's
// scopes and the one that matched.
func (b *proxyBackends) expectUpstreamSawKey(g Gomega, keyID, owner, scopes, matched string) http.Header {
	saw := b.upstreamSaw.Load()
	g.Expect(saw).NotTo(BeNil(), "no request reached the upstream")
	g.Expect(saw.Get(HeaderKeyID)).To(Equal(keyID))
	g.Expect(saw.Get(HeaderOwner)).To(Equal(owner))
	g.Expect(saw.Get(HeaderScopes)).To(Equal(scopes))
	g.Expect(saw.Get(HeaderMatchedScope)).To(Equal(matched))
	return *saw
}

// publishProxiedKeys publishes two keys for the investigations: k, and
// limited, which allows perMinute requests a minute (limit "per-minute").
func (f *fixture) publishProxiedKeys(perMinute int64) (k, limited *issued) {
	f.t.Helper()
	k = f.issue("acme/payments/investigations:read")
	f.publish(k)
	limited = withLimits(f.issue("acme/payments/investigations:read"), record.RateLimit{
		Limits: []record.Limit{{Name: "per-minute", Strategy: ratelimit.FixedWindow, Limit: perMinute, PeriodSeconds: 60}},
	})
	f.publish(limited)
	return k, limited
}

// forgedKeywardHeaders are X-Keyward-* headers a client sends of its own,
// claiming someone else's key and a wider scope: no proxy may let them
// reach the upstream.
func forgedKeywardHeaders() map[string]string {
	return map[string]string{
		HeaderKeyID:        "victimvictimvict",
		HeaderOwner:        "victim",
		HeaderScopes:       "acme/*/*:admin",
		HeaderMatchedScope: "acme/*/*:admin",
		HeaderSecret:       "previous",
		HeaderStatus:       "200",
	}
}

// expectNoneReached checks that no header of forged reached the upstream
// with the client's value.
func expectNoneReached(g Gomega, saw http.Header, forged map[string]string) {
	for name, v := range forged {
		g.Expect(saw.Values(name)).NotTo(ContainElement(v), "the client's %s reached the upstream of a permitted request", name)
	}
}

// proxyAnswer is a response whose body was read and closed, so that no
// caller holds an open response.
type proxyAnswer struct {
	StatusCode int
	Header     http.Header
	Body       string
}

// proxyRequest sends method to url with authz as its Authorization header
// (none when empty) and headers besides.
func proxyRequest(t *testing.T, method, url, authz string, headers map[string]string) proxyAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range headers {
		req.Header.Set(name, v)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return proxyAnswer{StatusCode: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// renderProxySample renders sample, a configuration of docs/proxies users
// are told to copy, with data into dir/name, and returns its path and text.
func renderProxySample(t *testing.T, sample string, data any, dir, name string) (path, conf string) {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("..", "docs", "proxies", sample))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Option("missingkey=error").Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, b.String()
}

// runProxy starts cmd, a real proxy, and waits until it accepts
// connections on listen. When the test ends, signal sends it SIGTERM (the
// graceful stop of nginx and Caddy alike), and SIGKILL if it is still
// running 10s later. failure says what the proxy printed, for a proxy
// that exits before it listens.
func runProxy(t *testing.T, name string, cmd *exec.Cmd, listen string, signal func(syscall.Signal) error, failure func() string) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			t.Logf("%s stopped: %v", name, err)
		case <-time.After(10 * time.Second):
			_ = signal(syscall.SIGKILL)
			t.Logf("%s killed: %v", name, <-exited)
		}
	})
	NewWithT(t).Eventually(func() error {
		select {
		case err := <-exited:
			exited <- err
			return StopTrying(fmt.Sprintf("%s exited: %v: %s", name, err, failure()))
		default:
		}
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
		}
		return err
	}).WithTimeout(20 * time.Second).Should(Succeed())
}

// mtlsProxy is what a real proxy terminating mutual TLS needs, and the
// clients it is tried with.
type mtlsProxy struct {
	*certFixture
	// ClientCA, ServerCert and ServerKey are files: the CA client
	// certificates must chain to, and the proxy's serving certificate.
	ClientCA, ServerCert, ServerKey string
	// bound is the client certificate of key, a key that accepts mutual
	// TLS only; unbound is one of the same CA bound to no key.
	bound, unbound *testutil.Cert
	key            *issued
}

// newMTLSProxy issues the proxy's serving certificate as server says,
// from the CA of the client certificates.
func newMTLSProxy(t *testing.T, server testutil.CertOptions) *mtlsProxy {
	t.Helper()
	f := newCertFixture(t, Options{})
	dir := t.TempDir()
	p := &mtlsProxy{certFixture: f, ClientCA: f.corp.WriteFile(t, dir, "client-ca")}
	p.ServerCert, p.ServerKey = f.corp.Issue(t, server).WriteFiles(t, dir, "server")
	p.bound = f.corp.Issue(t, reporterOptions)
	p.key = f.issueReporterKey()
	p.unbound = f.corp.Issue(t, testutil.CertOptions{CommonName: "stranger", URIs: []string{"spiffe://example.org/ns/payments/sa/stranger"}})
	return p
}

// expectBoundReachesUpstream checks that the upstream saw the request of
// the bound certificate as the bound key's.
func (p *mtlsProxy) expectBoundReachesUpstream(g Gomega, b *proxyBackends) {
	saw := b.upstreamSaw.Load()
	g.Expect(saw).NotTo(BeNil())
	g.Expect(saw.Get(HeaderKeyID)).To(Equal(p.key.rec.KeyID))
	g.Expect(saw.Get(HeaderMatchedScope)).To(Equal(readScope))
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
