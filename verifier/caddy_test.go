package verifier

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// caddyConfig fills the Caddy samples of docs/proxies: Caddyfile, and
// Caddyfile-mtls, which terminates mutual TLS. With client_auth Caddy
// answers 421 to a Host that is not the TLS server name, so a TLS site is
// https://localhost:PORT with a certificate for localhost, asked for as
// localhost.
type caddyConfig struct {
	// Site is the site address, scheme and host:port.
	Site string
	// Verifier and Upstream are host:port.
	Verifier, Upstream string
	// Global, SiteOptions and AuthOptions are extra lines for the global
	// options block, the site block and forward_auth.
	Global, SiteOptions, AuthOptions []string
	// ServerCert, ServerKey and ClientCA are files: Caddy's serving
	// certificate and key, and the CAs client certificates must chain to
	// (Caddyfile-mtls).
	ServerCert, ServerKey, ClientCA string
}

// plainCaddy listens on a free loopback port over plain HTTP, with nothing
// of Caddy's own running: no admin endpoint, no certificates.
func plainCaddy(t *testing.T, verifier, upstream string) caddyConfig {
	t.Helper()
	return caddyConfig{
		Site:     "http://" + freeAddr(t),
		Verifier: verifier, Upstream: upstream,
		Global: []string{"admin off", "auto_https off"},
	}
}

// startCaddy renders sample, a Caddyfile of docs/proxies users are told
// to copy, and runs a real Caddy (built by `make caddy`) with it. It
// returns the site's base URL.
func startCaddy(t *testing.T, sample string, c caddyConfig) string {
	t.Helper()
	bin := testutil.BuiltProgram(t, "caddy", "KEYWARD_CADDY", "caddy")
	dir := t.TempDir()
	tmpl, err := template.ParseFiles(filepath.Join("..", "docs", "proxies", sample))
	if err != nil {
		t.Fatal(err)
	}
	var conf bytes.Buffer
	if err := tmpl.Execute(&conf, c); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var out testutil.SyncBuffer
	cmd := exec.Command(bin, "run", "--config", confPath, "--adapter", "caddyfile")
	// Caddy's data and config directories (certificates, autosave) stay
	// in the test's directory.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGTERM is Caddy's graceful stop.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			t.Logf("caddy stopped: %v", err)
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Logf("caddy killed: %v", <-exited)
		}
	})
	scheme, listen, _ := strings.Cut(c.Site, "://")
	NewWithT(t).Eventually(func() error {
		select {
		case err := <-exited:
			exited <- err
			return StopTrying(fmt.Sprintf("caddy exited: %v: %s\n%s", err, out.String(), conf.String()))
		default:
		}
		conn, err := net.Dial("tcp", listen)
		if err == nil {
			conn.Close()
		}
		return err
	}).WithTimeout(20 * time.Second).Should(Succeed())
	return scheme + "://" + listen
}

// TestRealCaddyForwardAuth: Caddy's forward_auth with the sample
// Caddyfile passes a permitted request to the upstream with the
// verifier's identity headers, returns the verifier's denials to the
// client, and never lets a client's own X-Keyward-* headers through.
func TestRealCaddyForwardAuth(t *testing.T) {
	f := newFixture(t, Options{})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	limited := withLimits(f.issue("acme/payments/investigations:read"), record.RateLimit{
		Limits: []record.Limit{{Name: "per-minute", Strategy: ratelimit.FixedWindow, Limit: 1, PeriodSeconds: 60}},
	})
	f.publish(limited)
	hs, err := NewHandlers(f.v, Config{})
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
	base := startCaddy(t, "Caddyfile", plainCaddy(t, strings.TrimPrefix(verifierSrv.URL, "http://"), strings.TrimPrefix(upstream.URL, "http://")))

	forged := map[string]string{
		HeaderKeyID:        "victimvictimvict",
		HeaderOwner:        "victim",
		HeaderScopes:       "acme/*/*:admin",
		HeaderMatchedScope: "acme/*/*:admin",
		HeaderSecret:       "previous",
		HeaderStatus:       "200",
		"X-Keyward-Other":  "anything",
		"X-Forwarded-For":  "203.0.113.9",
	}
	type answer struct {
		StatusCode int
		Header     http.Header
		Body       string
	}
	do := func(method, authz string, headers map[string]string) answer {
		req, _ := http.NewRequest(method, base+"/acme/payments/investigations/INV-7", nil)
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
		return answer{resp.StatusCode, resp.Header, string(b)}
	}
	g := NewWithT(t)

	a := do(http.MethodGet, "Bearer "+k.key.Plaintext(), forged)
	g.Expect(a.StatusCode).To(Equal(http.StatusOK))
	g.Expect(a.Body).To(Equal("hello from upstream"))
	saw := *upstreamSaw.Load()
	g.Expect(saw.Get(HeaderKeyID)).To(Equal(k.key.ID()))
	g.Expect(saw.Get(HeaderOwner)).To(Equal("team-fraud"))
	g.Expect(saw.Get(HeaderScopes)).To(Equal("acme/payments/investigations:read"))
	g.Expect(saw.Get(HeaderMatchedScope)).To(Equal("acme/payments/investigations:read"))
	for name, v := range forged {
		g.Expect(saw.Values(name)).NotTo(ContainElement(v), "the client's %s reached the upstream of a permitted request", name)
	}
	g.Expect(saw.Values("X-Forwarded-For")).To(Equal([]string{"127.0.0.1"}), "Caddy replaces the client's X-Forwarded-For, which the verifier's trustedHops 1 reads too")

	upstreamSaw.Store(nil)
	a = do(http.MethodGet, "", forged)
	g.Expect(a.StatusCode).To(Equal(http.StatusUnauthorized))
	g.Expect(a.Header.Get("WWW-Authenticate")).To(Equal(`Bearer realm="keyward"`))
	g.Expect(a.Body).NotTo(ContainSubstring("hello from upstream"))

	unknown, _ := keys.Generate("")
	a = do(http.MethodGet, "Bearer "+unknown.Plaintext(), nil)
	g.Expect(a.StatusCode).To(Equal(http.StatusUnauthorized))
	g.Expect(a.Header.Get("WWW-Authenticate")).To(ContainSubstring(`error="invalid_token"`))

	a = do(http.MethodDelete, "Bearer "+k.key.Plaintext(), nil)
	g.Expect(a.StatusCode).To(Equal(http.StatusForbidden), "the original method reaches the verifier")
	g.Expect(a.Header.Get("WWW-Authenticate")).To(ContainSubstring(`error="insufficient_scope"`))

	g.Expect(do(http.MethodGet, "Bearer "+limited.key.Plaintext(), nil).StatusCode).To(Equal(http.StatusOK))
	a = do(http.MethodGet, "Bearer "+limited.key.Plaintext(), nil)
	g.Expect(a.StatusCode).To(Equal(http.StatusTooManyRequests), "Caddy returns the verifier's own status")
	g.Expect(a.Header.Get("Retry-After")).To(Equal("60"))
	g.Expect(a.Header.Get("RateLimit")).To(Equal(`"per-minute";r=0;t=60`))

	upstreamSaw.Store(nil)
	for range 2 {
		do(http.MethodGet, "", forged)
	}
	g.Expect(upstreamSaw.Load()).To(BeNil(), "no denied request reached the upstream")
}

// TestRealCaddyMutualTLS: Caddy terminates mutual TLS with the sample
// Caddyfile-mtls and passes the client's certificate to the verifier in
// X-Forwarded-Tls-Client-Cert; real curl is the client. A certificate
// bound to a key reaches the upstream as that key; one of the same CA
// bound to no key is refused by the verifier, even when the client names
// the bound certificate in a header of its own; without a certificate
// Caddy completes no handshake.
func TestRealCaddyMutualTLS(t *testing.T) {
	f := newCertFixture(t, Options{})
	dir := t.TempDir()
	clientCA := f.corp.WriteFile(t, dir, "client-ca")
	serverCert, serverKey := f.corp.Issue(t, testutil.CertOptions{CommonName: "localhost", DNSNames: []string{"localhost"}}).WriteFiles(t, dir, "server")

	bound := f.corp.Issue(t, reporterOptions)
	k := f.issue(readScope)
	f.bind(k, certbind.Binding{URI: spiffeReporter, Authority: "corp"}, mutualTLSOnly...)
	unbound := f.corp.Issue(t, testutil.CertOptions{CommonName: "stranger", URIs: []string{"spiffe://example.org/ns/payments/sa/stranger"}})

	hs, err := NewHandlers(f.v, Config{ClientCertificates: ClientCertificates{
		Forwarded: &ForwardedCertificate{Format: ForwardedTraefik, TrustedHops: []string{"127.0.0.0/8"}},
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
	_, port, _ := net.SplitHostPort(freeAddr(t))
	base := startCaddy(t, "Caddyfile-mtls", caddyConfig{
		Site:     "https://localhost:" + port,
		Verifier: strings.TrimPrefix(verifierSrv.URL, "http://"), Upstream: strings.TrimPrefix(upstream.URL, "http://"),
		Global:     []string{"admin off", "auto_https off"},
		ServerCert: serverCert, ServerKey: serverKey, ClientCA: clientCA,
	})
	url := base + "/acme/payments/investigations/INV-7"
	g := NewWithT(t)

	g.Expect(curlStatus(t, url, clientCA, bound, "bound")).To(Equal(http.StatusOK))
	saw := upstreamSaw.Load()
	g.Expect(saw).NotTo(BeNil())
	g.Expect((*saw).Get(HeaderKeyID)).To(Equal(k.rec.KeyID))
	g.Expect((*saw).Get(HeaderMatchedScope)).To(Equal(readScope))

	upstreamSaw.Store(nil)
	g.Expect(curlStatus(t, url, clientCA, unbound, "unbound")).To(Equal(http.StatusUnauthorized), "the verifier refuses a certificate bound to no key")
	g.Expect(curlStatus(t, url, clientCA, unbound, "unbound-claiming",
		"X-Forwarded-Tls-Client-Cert: "+base64.StdEncoding.EncodeToString(bound.Cert.Raw))).To(Equal(http.StatusUnauthorized),
		"Caddy replaces the client's own header with the certificate of the connection")
	g.Expect(upstreamSaw.Load()).To(BeNil(), "no refused request reached the upstream")

	curl := testutil.Program(t, "curl", "curl", "/usr/bin/curl")
	out, err := exec.Command(curl, "--silent", "--show-error", "--max-time", "10", "--cacert", clientCA, url).CombinedOutput()
	g.Expect(err).To(HaveOccurred(), "Caddy answered a client without a certificate: %s", out)
	g.Expect(upstreamSaw.Load()).To(BeNil())
}
