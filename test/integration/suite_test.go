package integration

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/notify"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/manager"
	"github.com/keyward-dev/keyward/test/integration/harness"
	"github.com/keyward-dev/keyward/verifier"
)

const (
	verifierNamespace = "keyward-verifier"
	managerNamespace  = "keyward-system"
	// testIterations keeps key creation fast; the verifier reads the
	// iteration count from each hash, so nothing else changes.
	testIterations = 1000
	// verifierUser is the verifier's ServiceAccount, which the manager
	// binds to its Role; the verifier's client impersonates it.
	verifierUser = "system:serviceaccount:" + verifierNamespace + ":keyward-verifier"
)

var (
	k8s client.Client
	// verifierURL serves decisions and forward-auth, publicURL the OAuth
	// endpoints.
	verifierURL, publicURL string
	watch                  *verifier.Watch
	v                      *verifier.Verifier
	trail                  = &testutil.SyncBuffer{}
	// managerTrail is the manager's audit trail, cloudEvents the CloudEvents
	// it sends, and leakReporter plays GitHub secret scanning.
	managerTrail = &testutil.SyncBuffer{}
	cloudEvents  = &testutil.EventSink{}
	leakReporter *testutil.LeakReporter
	// restConfig is the envtest administrator's; tests derive other
	// identities from it.
	restConfig *rest.Config
	// anomalies is the manager's inbox of findings, which the tests feed
	// as the usage aggregator does.
	anomalies *controllers.AnomalyInbox
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctrl.SetLogger(logr.Discard())
	// Until the manager has created the verifier's Role, the watch is
	// refused and client-go says so on every retry.
	klog.SetLogger(logr.Discard())
	env, err := testutil.StartEnv(testutil.EnvOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Stop()
	leakReporter = testutil.NewLeakReporter()
	defer leakReporter.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := start(ctx, env.Config); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func start(ctx context.Context, cfg *rest.Config) error {
	restConfig = cfg
	scheme := manager.Scheme()
	var err error
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	for _, ns := range []string{verifierNamespace, managerNamespace} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	if err := startManager(ctx, cfg, scheme); err != nil {
		return err
	}
	return startVerifier(ctx, cfg)
}

func startManager(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, Cache: controllers.CacheOptions(verifierNamespace),
	})
	if err != nil {
		return err
	}
	hasher, err := keys.NewHasher(testIterations, true)
	if err != nil {
		return err
	}
	// The deployer creates the verifier's Role and RoleBinding, which the
	// verifier below is limited to.
	c, err := manager.Setup(mgr, manager.Options{
		Parts:             manager.APIKeys | manager.SigningKeys | manager.KeyPolicies | manager.VerifierDeployer,
		VerifierNamespace: verifierNamespace, ManagerNamespace: managerNamespace,
		Clock: clock.RealClock{}, Hasher: hasher, HashConcurrency: 2, MaxConcurrentReconciles: 4,
		WarnBefore: time.Second, RevokedRecordRetention: time.Hour,
		Audit: audit.NewWriter(managerTrail), Notifier: notify.NewSink(cloudEvents.Start()), DefaultAllow: true,
		Verifier: controllers.VerifierDeployment{Namespace: verifierNamespace, Image: "keyward:test", Resources: controllers.DefaultVerifierResources()},
	})
	if err != nil {
		return err
	}
	anomalies = c.Anomalies
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
			os.Exit(1)
		}
	}()
	return nil
}

// startVerifier runs the verifier as `keyward verifier` does, as the
// verifier's ServiceAccount: if its Role lacked anything it needs, the
// record watch would never sync and every test would fail.
func startVerifier(ctx context.Context, cfg *rest.Config) error {
	started, err := harness.StartVerifier(ctx, cfg, harness.VerifierOptions{
		Namespace: verifierNamespace, User: verifierUser,
		Config: verifier.Config{
			// The tests' decision requests state their environment.
			TrustedCallers: []string{"127.0.0.0/8"},
			CountryHeader:  "X-Country",
			DeviceHeader:   "X-Device",
			NetworkClasses: map[string][]string{"corporate": {"10.0.0.0/8"}},
			LeakReports: verifier.LeakReportsConfig{GitHub: &verifier.GitHubLeaksConfig{
				PublicKeysURL: leakReporter.URL(), MinRefreshIntervalSeconds: 1,
			}},
		},
		LeakKeysClient: leakReporter.Client(),
		Audit:          trail,
		// A short interval: quota usage reaches the APIKeys' status within
		// the tests' patience.
		UsageReplica: "integration", UsageInterval: 200 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	watch, v = started.Watch, started.Verifier
	verifierURL, publicURL = started.URL, started.PublicURL
	return nil
}
