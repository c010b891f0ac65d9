package redteam

import (
	"context"
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

func startRedis(t *testing.T) *testutil.RedisServer { return testutil.StartRedisServer(t) }

// startTokenReplica runs a verifier with the shared Redis configured, reading
// records as the verifier's ServiceAccount. It stops when the test ends,
// or earlier by stop.
func startTokenReplica(t *testing.T, g *WithT, redis *testutil.RedisServer) *replica {
	t.Helper()
	conf := verifier.Config{
		OAuth:      verifier.OAuthConfig{Issuer: replicaIssuer},
		RateLimits: verifier.RateLimits{Store: "redis", Redis: &verifier.RedisConfig{Address: redis.Addr()}},
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
