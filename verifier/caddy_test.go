package verifier

import (
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/keys"
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
	confPath, conf := renderProxySample(t, sample, c, dir, "Caddyfile")
	var out testutil.SyncBuffer
	cmd := exec.Command(bin, "run", "--config", confPath, "--adapter", "caddyfile")
	// Caddy's data and config directories (certificates, autosave) stay
	// in the test's directory.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Stdout, cmd.Stderr = &out, &out
	scheme, listen, _ := strings.Cut(c.Site, "://")
	runProxy(t, "caddy", cmd, listen, func(s syscall.Signal) error { return cmd.Process.Signal(s) },
		func() string { return out.String() + "\n" + conf })
	return scheme + "://" + listen
}

// TestRealCaddyForwardAuth: Caddy's forward_auth with the sample
// Caddyfile passes a permitted request to the upstream with the
// verifier's identity headers, returns the verifier's denials to the
// client, and never lets a client's own X-Keyward-* headers through.
func TestRealCaddyForwardAuth(t *testing.T) {
	f := newFixture(t, Options{})
	k, limited := f.publishProxiedKeys(1)
	backends := startProxyBackends(t, f.v, Config{})
	base := startCaddy(t, "Caddyfile", plainCaddy(t, backends.Verifier, backends.Upstream))

	forged := forgedKeywardHeaders()
	forged["X-Keyward-Other"] = "anything"
	forged["X-Forwarded-For"] = "203.0.113.9"
	do := func(method, authz string, headers map[string]string) proxyAnswer {
		t.Helper()
		return proxyRequest(t, method, base+"/acme/payments/investigations/INV-7", authz, headers)
	}
	g := NewWithT(t)

	a := do(http.MethodGet, "Bearer "+k.key.Plaintext(), forged)
	g.Expect(a.StatusCode).To(Equal(http.StatusOK))
	g.Expect(a.Body).To(Equal("hello from upstream"))
	saw := backends.expectUpstreamSawKey(g, k.key.ID(), "team-fraud", "acme/payments/investigations:read", "acme/payments/investigations:read")
	expectNoneReached(g, saw, forged)
	g.Expect(saw.Values("X-Forwarded-For")).To(Equal([]string{"127.0.0.1"}), "Caddy replaces the client's X-Forwarded-For, which the verifier's trustedHops 1 reads too")

	backends.upstreamSaw.Store(nil)
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

	backends.upstreamSaw.Store(nil)
	for range 2 {
		do(http.MethodGet, "", forged)
	}
	g.Expect(backends.upstreamSaw.Load()).To(BeNil(), "no denied request reached the upstream")
}

// TestRealCaddyMutualTLS: Caddy terminates mutual TLS with the sample
// Caddyfile-mtls and passes the client's certificate to the verifier in
// X-Forwarded-Tls-Client-Cert; real curl is the client. A certificate
// bound to a key reaches the upstream as that key; one of the same CA
// bound to no key is refused by the verifier, even when the client names
// the bound certificate in a header of its own, on the mTLS site and on
// a plain site (Caddyfile) the verifier trusts as much; without a
// certificate Caddy completes no handshake.
func TestRealCaddyMutualTLS(t *testing.T) {
	p := newMTLSProxy(t, testutil.CertOptions{CommonName: "localhost", DNSNames: []string{"localhost"}})
	backends := startProxyBackends(t, p.v, Config{ClientCertificates: ClientCertificates{
		Forwarded: &ForwardedCertificate{Format: ForwardedTraefik, TrustedHops: []string{"127.0.0.0/8"}},
	}})
	_, port, _ := net.SplitHostPort(freeAddr(t))
	base := startCaddy(t, "Caddyfile-mtls", caddyConfig{
		Site:     "https://localhost:" + port,
		Verifier: backends.Verifier, Upstream: backends.Upstream,
		Global:     []string{"admin off", "auto_https off"},
		ServerCert: p.ServerCert, ServerKey: p.ServerKey, ClientCA: p.ClientCA,
	})
	url := base + "/acme/payments/investigations/INV-7"
	g := NewWithT(t)

	g.Expect(curlStatus(t, url, p.ClientCA, p.bound, "bound")).To(Equal(http.StatusOK))
	p.expectBoundReachesUpstream(g, backends)

	backends.upstreamSaw.Store(nil)
	g.Expect(curlStatus(t, url, p.ClientCA, p.unbound, "unbound")).To(Equal(http.StatusUnauthorized), "the verifier refuses a certificate bound to no key")
	g.Expect(curlStatus(t, url, p.ClientCA, p.unbound, "unbound-claiming",
		"X-Forwarded-Tls-Client-Cert: "+base64.StdEncoding.EncodeToString(p.bound.Cert.Raw))).To(Equal(http.StatusUnauthorized),
		"Caddy replaces the client's own header with the certificate of the connection")
	g.Expect(backends.upstreamSaw.Load()).To(BeNil(), "no refused request reached the upstream")

	curl := testutil.Program(t, "curl", "curl", "/usr/bin/curl")
	out, err := exec.Command(curl, "--silent", "--show-error", "--max-time", "10", "--cacert", p.ClientCA, url).CombinedOutput()
	g.Expect(err).To(HaveOccurred(), "Caddy answered a client without a certificate: %s", out)
	g.Expect(backends.upstreamSaw.Load()).To(BeNil())

	plain := startCaddy(t, "Caddyfile", plainCaddy(t, backends.Verifier, backends.Upstream))
	a := proxyRequest(t, http.MethodGet, plain+"/acme/payments/investigations/INV-7", "",
		map[string]string{"X-Forwarded-Tls-Client-Cert": base64.StdEncoding.EncodeToString(p.bound.Cert.Raw)})
	g.Expect(a.StatusCode).To(Equal(http.StatusUnauthorized), "a plain site's client names the bound (public) certificate in the header")
	g.Expect(backends.upstreamSaw.Load()).To(BeNil())
}
