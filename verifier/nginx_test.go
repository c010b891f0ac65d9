package verifier

import (
	"net/http"
	"os/exec"
	"syscall"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// startNginx renders docs/proxies/nginx.conf, the configuration users are
// told to copy, and runs nginx with it in the foreground.
func startNginx(t *testing.T, upstream, verifierAddr string) string {
	t.Helper()
	return "http://" + startNginxConf(t, "nginx.conf", map[string]string{"Upstream": upstream, "Verifier": verifierAddr})
}

// startNginxConf runs nginx with one of docs/proxies' nginx samples,
// rendered with vars besides Dir and Listen, and returns its address.
func startNginxConf(t *testing.T, sample string, vars map[string]string) string {
	t.Helper()
	bin := testutil.Program(t, "nginx", "nginx-light", "/usr/sbin/nginx")
	dir := t.TempDir()
	listen := freeAddr(t)
	data := map[string]string{"Dir": dir, "Listen": listen}
	for k, v := range vars {
		data[k] = v
	}
	confPath, _ := renderProxySample(t, sample, data, dir, "nginx.conf")
	var stderr testutil.SyncBuffer
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-g", "daemon off;")
	cmd.Stderr = &stderr
	// A process group of its own, so that the cleanup reaches the worker
	// processes too: signalling only the master could leave them behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	runProxy(t, "nginx", cmd, listen, func(s syscall.Signal) error { return syscall.Kill(-cmd.Process.Pid, s) }, stderr.String)
	return listen
}

func TestRealNginxAuthRequest(t *testing.T) {
	f := newFixture(t, Options{})
	k, limited := f.publishProxiedKeys(2)
	backends := startProxyBackends(t, f.v, Config{})
	base := startNginx(t, backends.Upstream, backends.Verifier)
	do := func(method, path, authz string) proxyAnswer {
		t.Helper()
		return proxyRequest(t, method, base+path, authz, nil)
	}
	g := NewWithT(t)

	resp := do("GET", "/acme/payments/investigations/INV-7", "Bearer "+k.key.Plaintext())
	g.Expect(resp.StatusCode).To(Equal(200))
	g.Expect(resp.Body).To(Equal("hello from upstream"))
	backends.expectUpstreamSawKey(g, k.key.ID(), "team-fraud", "acme/payments/investigations:read", "acme/payments/investigations:read")

	backends.upstreamSaw.Store(nil)
	resp = do("GET", "/acme/payments/investigations/INV-7", "")
	g.Expect(resp.StatusCode).To(Equal(401))
	g.Expect(resp.Header.Get("WWW-Authenticate")).To(Equal(`Bearer realm="keyward"`))
	g.Expect(resp.Body).NotTo(ContainSubstring("hello from upstream"))

	unknown, _ := keys.Generate("")
	resp = do("GET", "/acme/payments/investigations/INV-7", "Bearer "+unknown.Plaintext())
	g.Expect(resp.StatusCode).To(Equal(401))
	g.Expect(resp.Header.Get("WWW-Authenticate")).To(ContainSubstring(`error="invalid_token"`))

	resp = do("DELETE", "/acme/payments/investigations/INV-7", "Bearer "+k.key.Plaintext())
	g.Expect(resp.StatusCode).To(Equal(403))

	resp = do("GET", "/acme/payments/investigations/INV-7?access_token="+k.key.Plaintext(), "")
	g.Expect(resp.StatusCode).To(Equal(401), "a key in the query string is refused, not a 500")

	g.Expect(backends.upstreamSaw.Load()).To(BeNil(), "no denied request reached the upstream")

	// Over the limit: nginx turns the verifier's 403 + X-Keyward-Status
	// into a 429 with Retry-After; the RateLimit headers reach the client
	// on every answer.
	for _, remaining := range []string{"1", "0"} {
		resp = do("GET", "/acme/payments/investigations/INV-7", "Bearer "+limited.key.Plaintext())
		g.Expect(resp.StatusCode).To(Equal(200))
		g.Expect(resp.Body).To(Equal("hello from upstream"))
		g.Expect(resp.Header.Get("RateLimit")).To(Equal(`"per-minute";r=` + remaining + `;t=60`))
		g.Expect(resp.Header.Get("RateLimit-Policy")).To(Equal(`"per-minute";q=2;w=60`))
	}
	backends.upstreamSaw.Store(nil)
	resp = do("GET", "/acme/payments/investigations/INV-7", "Bearer "+limited.key.Plaintext())
	g.Expect(resp.StatusCode).To(Equal(429))
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("60"))
	g.Expect(resp.Header.Get("RateLimit")).To(Equal(`"per-minute";r=0;t=60`))
	g.Expect(backends.upstreamSaw.Load()).To(BeNil(), "the refused request did not reach the upstream")
	resp = do("DELETE", "/acme/payments/investigations/INV-7", "Bearer "+limited.key.Plaintext())
	g.Expect(resp.StatusCode).To(Equal(403), "other denials stay 403")
	g.Expect(resp.Header.Get("Retry-After")).To(BeEmpty())
}

// TestAttackClientSentKeywardHeadersThroughRealNginx: an upstream behind
// the sample nginx.conf believes X-Keyward-* headers. A client sends its
// own (a wider scope, someone else's key ID and owner) with its own valid
// key, and without one: the upstream sees only what the verifier said on
// the permitted request, and nothing at all of the denied one.
func TestAttackClientSentKeywardHeadersThroughRealNginx(t *testing.T) {
	f := newFixture(t, Options{})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	backends := startProxyBackends(t, f.v, Config{})
	base := startNginx(t, backends.Upstream, backends.Verifier)
	forged := forgedKeywardHeaders()
	do := func(authz string) int {
		t.Helper()
		return proxyRequest(t, http.MethodGet, base+"/acme/payments/investigations/INV-7", authz, forged).StatusCode
	}
	g := NewWithT(t)

	g.Expect(do("Bearer " + k.key.Plaintext())).To(Equal(http.StatusOK))
	saw := backends.expectUpstreamSawKey(g, k.key.ID(), "team-fraud", "acme/payments/investigations:read", "acme/payments/investigations:read")
	expectNoneReached(g, saw, forged)

	backends.upstreamSaw.Store(nil)
	g.Expect(do("")).To(Equal(http.StatusUnauthorized))
	unknown, _ := keys.Generate("")
	g.Expect(do("Bearer " + unknown.Plaintext())).To(Equal(http.StatusUnauthorized))
	g.Expect(backends.upstreamSaw.Load()).To(BeNil(), "a denied request reached the upstream")
}
