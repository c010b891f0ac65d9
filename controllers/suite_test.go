package controllers

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/logging"
	"github.com/keyward-dev/keyward/internal/notify"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// The whole package shares one real API server and one manager, started in
// TestMain; each test works in a namespace of its own.
var (
	testEnv    *envtest.Environment
	k8s        client.Client // direct, uncached: what a user's kubectl sees
	reconciler *APIKeyReconciler
	mgrCache   cache.Cache
	janitor    *RecordJanitor
	deployer   *VerifierDeployer
	logs       = &testutil.SyncBuffer{}
	auditLines = &testutil.SyncBuffer{}
	writes     = &writeLog{}
	sink       = &testutil.EventSink{}
	// SigningKeys run on a fake clock: their rotations span minutes, and
	// the tests step through them.
	signingClock      = clocktesting.NewFakeClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	signingReconciler *SigningKeyReconciler
	// APIKeys, and the tombstones the janitor removes, run on a fake clock
	// of their own, started at the real present: keys are dated by the API
	// server's real clock (creation, expiry after days), and the tests step
	// through rotations, grace periods, warnings, expiry and retention.
	apiKeyClock = clocktesting.NewFakeClock(time.Now().UTC().Truncate(time.Second))
)

const (
	verifierNamespace = "keyward-verifier"
	// managerNamespace holds what only the manager reads (the
	// fingerprint key).
	managerNamespace = "keyward-system"
)

// testVerifierDeployment is the verifier the test manager deploys; its
// image is never pulled, as envtest runs no kubelet.
func testVerifierDeployment(namespace string) VerifierDeployment {
	return VerifierDeployment{Namespace: namespace, Image: "keyward:test", Resources: DefaultVerifierResources()}
}

// testIterations keeps envtest tests fast; the 600,000 default is covered by
// internal/keys.TestDefaultIterations and by make bench.
const testIterations = 1000

// Short durations, which the lifecycle tests step through on apiKeyClock.
const (
	testWarnBefore = 2 * time.Second
	testRetention  = 3 * time.Second
)

// runSuite starts the package's API server and its manager, assembled by
// assemble (manager.Setup, through TestMain in suite_main_test.go: this
// package cannot import the package that assembles it).
func runSuite(m *testing.M, assemble SuiteAssembler) int {
	// The most verbose zap setting there is, through the same cap the
	// manager applies; all of it goes to the buffer the plaintext test
	// searches.
	logger := logging.Cap(zap.New(zap.WriteTo(logs), zap.Level(zapcore.Level(-127)), zap.UseDevMode(true)))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)

	env, err := testutil.StartEnv(testutil.EnvOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testEnv = env.Environment
	defer env.Stop()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := startManager(ctx, env.Config, assemble); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func testScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(keywardv1.AddToScheme(s))
	return s
}

func startManager(ctx context.Context, cfg *rest.Config, assemble SuiteAssembler) error {
	var err error
	if k8s, err = client.New(cfg, client.Options{Scheme: testScheme()}); err != nil {
		return err
	}
	for _, ns := range []string{verifierNamespace, managerNamespace} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  testScheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   CacheOptions(verifierNamespace),
	})
	if err != nil {
		return err
	}
	mgrCache = mgr.GetCache()
	notifier := notify.NewSink(sink.Start())
	notifier.Backoff = 10 * time.Millisecond
	notifier.Now = apiKeyClock.Now
	parts, err := assemble(mgr, SuiteSettings{
		VerifierNamespace: verifierNamespace,
		ManagerNamespace:  managerNamespace,
		Iterations:        testIterations,
		WarnBefore:        testWarnBefore,
		Retention:         testRetention,
		Notifier:          notifier,
		Audit:             audit.NewWriter(auditLines),
		Verifier:          testVerifierDeployment(verifierNamespace),
		WrapAPIKeyClient:  func(c client.Client) client.Client { return &countingClient{Client: c, log: writes} },
		Clock:             apiKeyClock,
		SigningClock:      signingClock,
	})
	if err != nil {
		return err
	}
	reconciler, signingReconciler, janitor, deployer = parts.APIKeys, parts.SigningKeys, parts.Janitor, parts.Deployer
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped:", err)
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("cache did not sync")
	}
	return nil
}
