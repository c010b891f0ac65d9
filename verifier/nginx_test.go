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
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

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
	tmpl, err := template.ParseFiles(filepath.Join("..", "docs", "proxies", sample))
	if err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	data := map[string]string{"Dir": dir, "Listen": listen}
	for k, v := range vars {
		data[k] = v
	}
	var conf bytes.Buffer
	if err := tmpl.Option("missingkey=error").Execute(&conf, data); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-g", "daemon off;")
	cmd.Stderr = &stderr
	// A process group of its own, so that the cleanup reaches the worker
	// processes too: killing only the master would leave them behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGTERM is nginx's fast shutdown: the master stops its workers.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case err := <-exited:
			t.Logf("nginx stopped: %v", err)
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Logf("nginx killed: %v", <-exited)
		}
	})
	NewWithT(t).Eventually(func() error {
		select {
		case err := <-exited:
			exited <- err
			return StopTrying(fmt.Sprintf("nginx exited: %v: %s", err, stderr.String()))
		default:
		}
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
		}
		return err
	}).WithTimeout(20 * time.Second).Should(Succeed())
	return listen
}

func TestRealNginxAuthRequest(t *testing.T) {
	f := newFixture(t, Options{})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	limited := withLimits(f.issue("acme/payments/investigations:read"), record.RateLimit{
		Limits: []record.Limit{{Name: "per-minute", Strategy: ratelimit.FixedWindow, Limit: 2, PeriodSeconds: 60}},
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
	base := startNginx(t, strings.TrimPrefix(upstream.URL, "http://"), strings.TrimPrefix(verifierSrv.URL, "http://"))

	// do answers the status and headers only: the body is read and closed
	// here, so no caller holds an open response.
	type answer struct {
		StatusCode int
		Header     http.Header
	}
	do := func(method, path, authz string) (answer, string) {
		req, _ := http.NewRequest(method, base+path, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return answer{StatusCode: resp.StatusCode, Header: resp.Header}, string(b)
	}
	g := NewWithT(t)

	resp, body := do("GET", "/acme/payments/investigations/INV-7", "Bearer "+k.key.Plaintext())
	g.Expect(resp.StatusCode).To(Equal(200))
	g.Expect(body).To(Equal("hello from upstream"))
	saw := *upstreamSaw.Load()
	g.Expect(saw.Get(HeaderKeyID)).To(Equal(k.key.ID()))
	g.Expect(saw.Get(HeaderOwner)).To(Equal("team-fraud"))
	g.Expect(saw.Get(HeaderMatchedScope)).To(Equal("acme/payments/investigations:read"))

	upstreamSaw.Store(nil)
	resp, body = do("GET", "/acme/payments/investigations/INV-7", "")
	g.Expect(resp.StatusCode).To(Equal(401))
	g.Expect(resp.Header.Get("WWW-Authenticate")).To(Equal(`Bearer realm="keyward"`))
	g.Expect(body).NotTo(ContainSubstring("hello from upstream"))

	unknown, _ := keys.Generate("")
	resp, _ = do("GET", "/acme/payments/investigations/INV-7", "Bearer "+unknown.Plaintext())
	g.Expect(resp.StatusCode).To(Equal(401))
	g.Expect(resp.Header.Get("WWW-Authenticate")).To(ContainSubstring(`error="invalid_token"`))

	resp, _ = do("DELETE", "/acme/payments/investigations/INV-7", "Bearer "+k.key.Plaintext())
	g.Expect(resp.StatusCode).To(Equal(403))

	resp, _ = do("GET", "/acme/payments/investigations/INV-7?access_token="+k.key.Plaintext(), "")
	g.Expect(resp.StatusCode).To(Equal(401), "a key in the query string is refused, not a 500")

	g.Expect(upstreamSaw.Load()).To(BeNil(), "no denied request reached the upstream")

	// Over the limit: nginx turns the verifier's 403 + X-Keyward-Status
	// into a 429 with Retry-After; the RateLimit headers reach the client
	// on every answer.
	for _, remaining := range []string{"1", "0"} {
		resp, body = do("GET", "/acme/payments/investigations/INV-7", "Bearer "+limited.key.Plaintext())
		g.Expect(resp.StatusCode).To(Equal(200))
		g.Expect(body).To(Equal("hello from upstream"))
		g.Expect(resp.Header.Get("RateLimit")).To(Equal(`"per-minute";r=` + remaining + `;t=60`))
		g.Expect(resp.Header.Get("RateLimit-Policy")).To(Equal(`"per-minute";q=2;w=60`))
	}
	upstreamSaw.Store(nil)
	resp, _ = do("GET", "/acme/payments/investigations/INV-7", "Bearer "+limited.key.Plaintext())
	g.Expect(resp.StatusCode).To(Equal(429))
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("60"))
	g.Expect(resp.Header.Get("RateLimit")).To(Equal(`"per-minute";r=0;t=60`))
	g.Expect(upstreamSaw.Load()).To(BeNil(), "the refused request did not reach the upstream")
	resp, _ = do("DELETE", "/acme/payments/investigations/INV-7", "Bearer "+limited.key.Plaintext())
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
	base := startNginx(t, strings.TrimPrefix(upstream.URL, "http://"), strings.TrimPrefix(verifierSrv.URL, "http://"))
	forged := map[string]string{
		HeaderKeyID:        "victimvictimvict",
		HeaderOwner:        "victim",
		HeaderScopes:       "acme/*/*:admin",
		HeaderMatchedScope: "acme/*/*:admin",
		HeaderSecret:       "previous",
		HeaderStatus:       "200",
	}
	do := func(authz string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/acme/payments/investigations/INV-7", nil)
		for name, v := range forged {
			req.Header.Set(name, v)
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	g := NewWithT(t)

	g.Expect(do("Bearer " + k.key.Plaintext())).To(Equal(http.StatusOK))
	saw := *upstreamSaw.Load()
	for name, v := range forged {
		g.Expect(saw.Values(name)).NotTo(ContainElement(v), "the client's %s reached the upstream of a permitted request", name)
	}
	g.Expect(saw.Get(HeaderKeyID)).To(Equal(k.key.ID()))
	g.Expect(saw.Get(HeaderOwner)).To(Equal("team-fraud"))
	g.Expect(saw.Get(HeaderScopes)).To(Equal("acme/payments/investigations:read"))
	g.Expect(saw.Get(HeaderMatchedScope)).To(Equal("acme/payments/investigations:read"))

	upstreamSaw.Store(nil)
	g.Expect(do("")).To(Equal(http.StatusUnauthorized))
	unknown, _ := keys.Generate("")
	g.Expect(do("Bearer " + unknown.Plaintext())).To(Equal(http.StatusUnauthorized))
	g.Expect(upstreamSaw.Load()).To(BeNil(), "a denied request reached the upstream")
}
