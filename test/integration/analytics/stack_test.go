package usageanalytics

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/gomega"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/notify"
	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/manager"
	"github.com/keyward-dev/keyward/test/integration/harness"
	"github.com/keyward-dev/keyward/verifier"
)

const (
	verifierNamespace = "keyward-verifier"
	managerNamespace  = "keyward-system"
	verifierUser      = "system:serviceaccount:" + verifierNamespace + ":keyward-verifier"
	// testIterations keeps key creation fast; the verifier reads the
	// iteration count from each hash.
	testIterations = 1000
	// reportInterval is the verifiers' report interval and the
	// aggregator's; closeAfter is the aggregator's grace after a minute.
	// Both are in stepped time, so only their order matters: a minute is
	// reported (an interval after it ends) before it closes.
	reportInterval = 5 * time.Second
	closeAfter     = 20 * time.Second
	// replicas is how many verifier replicas share the traffic.
	replicas = 2
	waitFor  = 30 * time.Second
)

// geography is the GeoIP database the verifiers place clients with.
var geography = map[string]string{
	"192.0.2.0/24":    "DE", // home: where every seeded key is used
	"198.18.0.0/24":   "DE", // another network in the same country
	"198.51.100.0/24": "FR", // a neighbour, an hour's travel away
	"203.0.113.0/24":  "NZ", // the other side of the world
}

// Client addresses of the tests' traffic, one per network above.
const (
	home         = "192.0.2.10"
	homeNeighbor = "198.18.0.20"
	france       = "198.51.100.7"
	newZealand   = "203.0.113.5"
)

// steppedClock is the time of the verifiers and of the usage aggregator:
// the tests step it through minutes, so that a minute closes when a test
// says, not a real minute later. It counts the tickers made on it, so that
// a test steps it only once every reporter and the aggregator wait on it.
type steppedClock struct {
	*clocktesting.FakeClock
	tickers atomic.Int32
}

func (c *steppedClock) NewTicker(d time.Duration) clock.Ticker {
	c.tickers.Add(1)
	return c.FakeClock.NewTicker(d)
}

// stack is one installation: an API server, the manager with its usage
// aggregator, two verifier replicas and the notification sink.
type stack struct {
	env       *testutil.Env
	k8s       client.Client
	clock     *steppedClock
	store     *analytics.Store
	usage     *controllers.UsageAggregator
	verifiers []*harness.Verifier
	events    *testutil.EventSink
	findings  *findingLog
	trail     *testutil.SyncBuffer
}

type stackOptions struct {
	geoIPPath string
	// redis, when set, is the Redis aggregation's (and the rate limits')
	// server; nil is the embedded aggregation.
	redis *redis.Client
	// redisAddress is the verifiers' address of it.
	redisAddress string
}

// findingLog passes each finding on to the APIKey controller's inbox, as
// the manager wires it, and notes when it did: the response's latency is
// measured from there.
type findingLog struct {
	inbox *controllers.AnomalyInbox
	mu    sync.Mutex
	found map[string][]timedFinding
}

type timedFinding struct {
	analytics.Finding
	reported time.Time
}

func (l *findingLog) report(f analytics.KeyFinding) {
	l.mu.Lock()
	l.found[f.KeyID] = append(l.found[f.KeyID], timedFinding{f.Finding, time.Now()})
	l.mu.Unlock()
	l.inbox.Report(f)
}

// of is every finding of the key so far.
func (l *findingLog) of(keyID string) []timedFinding {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]timedFinding(nil), l.found[keyID]...)
}

// startStack starts an installation on env, which runs until ctx ends.
// The clock starts at the next whole hour of real time: the keys the
// manager creates in real time are never ahead of the verifiers.
func startStack(ctx context.Context, g Gomega, env *testutil.Env, o stackOptions) *stack {
	s := &stack{
		env: env, clock: &steppedClock{FakeClock: clocktesting.NewFakeClock(time.Now().UTC().Truncate(time.Hour).Add(time.Hour))},
		store: analytics.NewStore(analytics.DefaultParams(), 10_000), events: &testutil.EventSink{},
		findings: &findingLog{found: map[string][]timedFinding{}}, trail: &testutil.SyncBuffer{},
	}
	scheme := manager.Scheme()
	var err error
	s.k8s, err = client.New(env.Config, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	for _, ns := range []string{verifierNamespace, managerNamespace} {
		g.Expect(s.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}
	s.startManager(ctx, g, o)
	s.startVerifiers(ctx, g, o)
	g.Eventually(func() bool {
		for _, v := range s.verifiers {
			if !v.Watch.Ready() || !v.Signing.Ready() {
				return false
			}
		}
		return true
	}).WithTimeout(waitFor).Should(BeTrue())
	// the aggregator's ticker and each replica's reporter
	g.Eventually(s.clock.tickers.Load).WithTimeout(waitFor).Should(BeNumerically(">=", 1+replicas))
	return s
}

func (s *stack) startManager(ctx context.Context, g Gomega, o stackOptions) {
	mgr, err := ctrl.NewManager(s.env.Config, ctrl.Options{
		Scheme: manager.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, Cache: controllers.CacheOptions(verifierNamespace),
		// The Redis test runs a second installation in this process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	hasher, err := keys.NewHasher(testIterations, true)
	g.Expect(err).NotTo(HaveOccurred())
	usage := manager.UsageOptions{
		Interval: reportInterval, CloseAfter: closeAfter, Store: s.store, Findings: s.findings.report,
	}
	if o.redis != nil {
		usage.Redis, usage.RedisPrefix = o.redis, ratelimit.DefaultRedisPrefix
	}
	c, err := manager.Setup(mgr, manager.Options{
		Parts:             manager.APIKeys | manager.KeyPolicies | manager.VerifierDeployer | manager.UsageAggregator,
		VerifierNamespace: verifierNamespace, ManagerNamespace: managerNamespace,
		Clock: clock.RealClock{}, Hasher: hasher, HashConcurrency: 2, MaxConcurrentReconciles: 4,
		WarnBefore: time.Second, RevokedRecordRetention: time.Hour,
		Audit: audit.NewWriter(s.trail), Notifier: notify.NewSink(s.events.Start()), DefaultAllow: true,
		Verifier: controllers.VerifierDeployment{Namespace: verifierNamespace, Image: "keyward:test", Resources: controllers.DefaultVerifierResources()},
		Usage:    usage,
	})
	g.Expect(err).NotTo(HaveOccurred())
	s.findings.inbox = c.Anomalies
	// The controllers keep real time (requeues, lifetimes); only the
	// aggregator's minutes are stepped, with the verifiers that count them.
	c.Usage.Clock = s.clock
	s.usage = c.Usage
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
			os.Exit(1)
		}
	}()
}

func (s *stack) startVerifiers(ctx context.Context, g Gomega, o stackOptions) {
	conf := verifier.Config{
		// The tests' forward-auth requests name their client address.
		TrustedCallers: []string{"127.0.0.0/8"},
		GeoIP:          verifier.GeoIPConfig{DatabasePath: o.geoIPPath},
	}
	if o.redis != nil {
		conf.RateLimits = verifier.RateLimits{Store: "redis", Redis: &verifier.RedisConfig{Address: o.redisAddress}}
		conf.Analytics = verifier.AnalyticsConfig{Aggregation: verifier.AggregationRedis}
	}
	for i := range replicas {
		v, err := harness.StartVerifier(ctx, s.env.Config, harness.VerifierOptions{
			Namespace: verifierNamespace, User: verifierUser, Config: conf, Audit: &testutil.SyncBuffer{},
			ActivityReplica: fmt.Sprintf("verifier-%c", 'a'+i), UsageInterval: reportInterval, Clock: s.clock,
		})
		g.Expect(err).NotTo(HaveOccurred())
		s.verifiers = append(s.verifiers, v)
	}
}
