package redteam

import (
	"context"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/test/integration/harness"
	"github.com/keyward-dev/keyward/verifier"
)

// replicaIssuer is the issuer every replica of one deployment shares: the
// URL of the Service in front of them, not of one replica.
const replicaIssuer = "https://keyward.redteam.example"

// replica is one more verifier, as a Deployment's second pod or a
// restarted one: its own process state, the same records, the same
// configuration.
type replica struct {
	url  string
	stop func()
}

// sharedRedis is the Redis the replicas share, as production runs it: TLS
// only, a client certificate required, an ACL user with a password; and
// the configuration by which a replica reaches it.
type sharedRedis struct {
	srv  *testutil.RedisServer
	conf verifier.RedisConfig
}

func startRedis(t *testing.T) *sharedRedis {
	t.Helper()
	ca := testutil.NewCA(t, "redis CA")
	const user, password = "keyward-verifier", "redis-password-1"
	srv := testutil.StartRedisServerWith(t, testutil.RedisServerOptions{
		TLS:   &testutil.RedisTLS{CA: ca, AuthClients: "yes"},
		Users: []testutil.RedisUser{{Name: user, Password: password, Keys: "keyward:*"}},
	})
	dir := t.TempDir()
	certFile, keyFile := ca.Issue(t, testutil.CertOptions{CommonName: "verifier"}).WriteFiles(t, dir, "client")
	passwordFile := filepath.Join(dir, "password")
	testutil.WriteFile(t, passwordFile, []byte(password))
	return &sharedRedis{srv: srv, conf: verifier.RedisConfig{
		Address: srv.Addr(), Username: user, PasswordFile: passwordFile,
		TLS: &verifier.RedisTLS{CAFile: ca.WriteFile(t, dir, "ca"), CertFile: certFile, KeyFile: keyFile},
	}}
}

// startTokenReplica runs a verifier with the shared Redis configured, reading
// records as the verifier's ServiceAccount. It stops when the test ends,
// or earlier by stop.
func startTokenReplica(t *testing.T, g *WithT, redis *sharedRedis) *replica {
	t.Helper()
	rc := redis.conf
	conf := verifier.Config{
		OAuth:      verifier.OAuthConfig{Issuer: replicaIssuer},
		RateLimits: verifier.RateLimits{Store: "redis", Redis: &rc},
	}
	g.Expect(conf.Validate()).To(Succeed())
	started, err := harness.StartVerifier(context.Background(), restConfig, harness.VerifierOptions{
		Namespace: verifierNamespace, User: verifierUser, Config: conf, Audit: &testutil.SyncBuffer{},
	})
	g.Expect(err).NotTo(HaveOccurred())
	// The token endpoint is on the public port.
	r := &replica{url: started.PublicURL, stop: started.Stop}
	t.Cleanup(r.stop)
	return r
}
