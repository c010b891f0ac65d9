package redteam

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/testutil"
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
	ctx, cancel := context.WithCancel(context.Background())
	asVerifier := rest.CopyConfig(restConfig)
	asVerifier.Impersonate = rest.ImpersonationConfig{UserName: verifierUser}
	cs, err := kubernetes.NewForConfig(asVerifier)
	g.Expect(err).NotTo(HaveOccurred())
	conf := verifier.Config{
		OAuth:      verifier.OAuthConfig{Issuer: replicaIssuer},
		RateLimits: verifier.RateLimits{Store: "redis", Redis: &verifier.RedisConfig{Address: redis.Addr()}},
	}
	g.Expect(conf.Validate()).To(Succeed())
	index := verifier.NewIndex()
	w := verifier.NewWatch(cs, verifierNamespace, index, verifier.WatchOptions{})
	keys := verifier.NewSigningKeys()
	tokens, err := verifier.NewTokens(keys, conf.OAuth, nil)
	g.Expect(err).NotTo(HaveOccurred())
	sw := verifier.NewSigningWatch(cs, verifierNamespace, keys, logr.Discard())
	v, err := verifier.New(index, verifier.Options{
		Audit:       verifier.AccessLog{W: audit.NewWriter(&testutil.SyncBuffer{})},
		Ready:       func() bool { return w.Ready() && sw.Ready() },
		LastContact: w.LastContact, MaxStaleness: time.Minute, Tokens: tokens,
		RateLimits: conf.RateLimits,
	})
	g.Expect(err).NotTo(HaveOccurred())
	doors, err := verifier.NewHandlers(v, conf)
	g.Expect(err).NotTo(HaveOccurred())
	// The token endpoint is on the public port.
	h := doors.Public
	go w.Run(ctx, time.Second)
	go sw.Run(ctx)
	srv := httptest.NewServer(h)
	r := &replica{url: srv.URL}
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		srv.Close()
		cancel()
		_ = v.Close()
	}
	t.Cleanup(r.stop)
	return r
}
