package verifier

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
	kwtestutil "github.com/keyward-dev/keyward/internal/testutil"
)

// tlsRedis is a Redis that speaks only TLS, wants a client certificate and
// a password, and has an ACL user, with the files a verifier is given.
type tlsRedis struct {
	srv *kwtestutil.RedisServer
	ca  *kwtestutil.CA
	// caFile, certFile and keyFile are a verifier's: the server's CA and
	// a client certificate it issued.
	caFile, certFile, keyFile string
	dir                       string
}

const (
	redisACLUser     = "keyward-verifier"
	redisACLPassword = "acl-secret-1"
	redisPassword    = "default-secret-1"
)

func startTLSRedis(t *testing.T, authClients string) *tlsRedis {
	t.Helper()
	ca := kwtestutil.NewCA(t, "redis CA")
	r := &tlsRedis{ca: ca, dir: t.TempDir()}
	r.srv = kwtestutil.StartRedisServerWith(t, kwtestutil.RedisServerOptions{
		TLS:      &kwtestutil.RedisTLS{CA: ca, AuthClients: authClients},
		Password: redisPassword,
		// The user may touch only keyward's keys, as the docs suggest.
		Users: []kwtestutil.RedisUser{{Name: redisACLUser, Password: redisACLPassword, Keys: "keyward:*"}},
	})
	r.caFile = ca.WriteFile(t, r.dir, "ca")
	r.certFile, r.keyFile = ca.Issue(t, kwtestutil.CertOptions{CommonName: "verifier"}).WriteFiles(t, r.dir, "client")
	return r
}

// limits is the verifier's configuration for the ACL user, with its
// password in a file as a mounted Secret holds it.
func (r *tlsRedis) limits(t *testing.T, fallback ratelimit.FallbackPolicy) RateLimits {
	t.Helper()
	rl := redisLimits(r.srv.Addr(), fallback)
	rl.Redis.Username = redisACLUser
	rl.Redis.PasswordFile = r.writePassword(t, "password", redisACLPassword+"\n")
	rl.Redis.TLS = &RedisTLS{CAFile: r.caFile, CertFile: r.certFile, KeyFile: r.keyFile}
	return rl
}

func (r *tlsRedis) writePassword(t *testing.T, name, password string) string {
	t.Helper()
	path := filepath.Join(r.dir, name)
	kwtestutil.WriteFile(t, path, []byte(password))
	return path
}

func TestTwoReplicasShareLimitsThroughTLSRedis(t *testing.T) {
	for _, tc := range []struct {
		name        string
		authClients string
		configure   func(*RedisConfig)
	}{
		{"a client certificate required, an ACL user", "yes", func(*RedisConfig) {}},
		{"no client certificate, the default user's requirepass", "optional", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r := startTLSRedis(t, tc.authClients)
			rl := r.limits(t, ratelimit.Deny)
			if tc.configure == nil {
				rl.Redis.Username, rl.Redis.TLS.CertFile, rl.Redis.TLS.KeyFile = "", "", ""
				rl.Redis.PasswordFile = r.writePassword(t, "requirepass", redisPassword)
			}
			f := newFixture(t, Options{})
			k := withLimits(f.issue("acme/payments/investigations:read"), record.RateLimit{
				Limits: []record.Limit{{Name: "per-minute", Strategy: ratelimit.FixedWindow, Limit: 10, PeriodSeconds: 60}},
			})
			reps := newReplicas(t, 2, rl, k)
			permitted := 0
			for i := range 16 {
				switch d := reps.decide(i%2, k); d.Result {
				case Permit:
					permitted++
				default:
					g.Expect(d.Reason).To(Equal(ReasonRateLimited), "refused by the shared limit, not by an unavailable store")
				}
			}
			g.Expect(permitted).To(Equal(10), "one limit for both replicas")
			keys, err := r.srv.Client().Keys(t.Context(), "keyward:rl:*").Result()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(keys).NotTo(BeEmpty(), "the counters are in Redis")
		})
	}
}

// TestTLSRedisRefusals: a verifier that cannot authenticate Redis, or that
// Redis does not accept, says why on /readyz and decides by its fallback.
func TestTLSRedisRefusals(t *testing.T) {
	r := startTLSRedis(t, "yes")
	other := kwtestutil.NewCA(t, "another CA")
	for _, tc := range []struct {
		name      string
		configure func(*RedisConfig)
		want      string
	}{
		{"a CA that did not issue Redis's certificate", func(c *RedisConfig) {
			c.TLS.CAFile = other.WriteFile(t, t.TempDir(), "other")
		}, "TLS handshake with Redis at " + r.srv.Addr() + ": tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"a name Redis's certificate does not carry", func(c *RedisConfig) {
			c.TLS.ServerName = "redis.elsewhere.example"
		}, "certificate is valid for localhost, not redis.elsewhere.example"},
		{"a wrong password", func(c *RedisConfig) {
			c.PasswordFile = r.writePassword(t, "wrong", "not-the-password")
		}, "WRONGPASS"},
		{"an unknown user", func(c *RedisConfig) {
			c.Username = "nobody"
		}, "WRONGPASS"},
		{"no password", func(c *RedisConfig) {
			c.Username, c.PasswordFile = "", ""
		}, "unauthenticated"},
		{"no client certificate", func(c *RedisConfig) {
			c.TLS.CertFile, c.TLS.KeyFile = "", ""
		}, "certificate required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t, Options{})
			k := withLimits(f.issue("acme/payments/investigations:read"), record.RateLimit{
				Limits: []record.Limit{{Name: "per-minute", Strategy: ratelimit.FixedWindow, Limit: 10, PeriodSeconds: 60}},
			})
			rl := r.limits(t, ratelimit.Deny)
			tc.configure(rl.Redis)
			reps := newReplicas(t, 1, rl, k)

			d := reps.decide(0, k)
			g.Expect(d.Result).To(Equal(Indeterminate), "fallback Deny applies")
			g.Expect(d.Reason).To(Equal(ReasonRateLimitUnavailable))
			w := httptest.NewRecorder()
			reps.vs[0].HealthHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			g.Expect(w.Body.String()).To(ContainSubstring("rate limits: Redis unavailable since"))
			g.Expect(w.Body.String()).To(ContainSubstring(tc.want))
			g.Expect(w.Body.String()).NotTo(ContainSubstring(redisACLPassword))
		})
	}
}

func TestRedisTLSConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	ca := kwtestutil.NewCA(t, "redis CA")
	caFile := ca.WriteFile(t, dir, "ca")
	certFile, keyFile := ca.Issue(t, kwtestutil.CertOptions{CommonName: "verifier"}).WriteFiles(t, dir, "client")
	_, otherKey := ca.Issue(t, kwtestutil.CertOptions{CommonName: "other"}).WriteFiles(t, dir, "other")
	notPEM := filepath.Join(dir, "not-pem")
	kwtestutil.WriteFile(t, notPEM, []byte("not a certificate"))
	empty := filepath.Join(dir, "empty")
	kwtestutil.WriteFile(t, empty, []byte("\n"))
	redisWith := func(c RedisConfig) RateLimits {
		c.Address = "127.0.0.1:6379"
		return RateLimits{Store: "redis", Redis: &c}
	}
	for name, tc := range map[string]struct {
		c    RateLimits
		want string
	}{
		"a missing CA file":            {redisWith(RedisConfig{TLS: &RedisTLS{CAFile: filepath.Join(dir, "missing")}}), "rateLimits.redis.tls.caFile: open "},
		"a CA file without PEM":        {redisWith(RedisConfig{TLS: &RedisTLS{CAFile: notPEM}}), "rateLimits.redis.tls.caFile: " + notPEM + ": no PEM CERTIFICATE block in it"},
		"a certificate without key":    {redisWith(RedisConfig{TLS: &RedisTLS{CAFile: caFile, CertFile: certFile}}), "rateLimits.redis.tls.keyFile: required with certFile"},
		"a key without certificate":    {redisWith(RedisConfig{TLS: &RedisTLS{KeyFile: keyFile}}), "rateLimits.redis.tls.certFile: required with keyFile"},
		"a missing certificate file":   {redisWith(RedisConfig{TLS: &RedisTLS{CertFile: filepath.Join(dir, "gone.crt"), KeyFile: keyFile}}), "rateLimits.redis.tls.certFile: "},
		"a missing key file":           {redisWith(RedisConfig{TLS: &RedisTLS{CertFile: certFile, KeyFile: filepath.Join(dir, "gone.key")}}), "rateLimits.redis.tls.keyFile: "},
		"a key of another certificate": {redisWith(RedisConfig{TLS: &RedisTLS{CertFile: certFile, KeyFile: otherKey}}), "rateLimits.redis.tls.certFile, keyFile: tls: private key does not match public key"},
		"an empty password file":       {redisWith(RedisConfig{PasswordFile: empty}), "rateLimits.redis.passwordFile: " + empty + " is empty"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := Config{RateLimits: tc.c}.Validate()
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
			g.Expect(err.Error()).NotTo(ContainSubstring("PRIVATE KEY"))
		})
	}
}
