package soak

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/apiretry"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/manager"
)

const (
	verifierNamespace = "keyward-verifier"
	managerNamespace  = "keyward-system"
	keyNamespace      = "soak"
	verifierUser      = "system:serviceaccount:" + verifierNamespace + ":keyward-verifier"
	// testIterations keeps key creation fast; the verifier caches a
	// verified secret, so PBKDF2's cost is paid once per secret anyway.
	testIterations = 1000
	waitFor        = 30 * time.Second
)

var (
	env *testutil.Env
	k8s client.Client
	// managerDone is closed when the manager's Start returns, with its
	// error in managerErr: the manager must outlive the soak.
	managerDone = make(chan struct{})
	managerErr  error
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	// Without SOAK_DURATION the package costs `make test` only its unit
	// tests: a soak is a run of its own (`make soak`), and the soak test
	// skips without an API server.
	if _, set := os.LookupEnv(durationVar); !set {
		return m.Run()
	}
	ctrl.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	var err error
	if env, err = testutil.StartEnv(testutil.EnvOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func start(ctx context.Context) error {
	scheme := manager.Scheme()
	var err error
	if k8s, err = client.New(env.Config, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	for _, ns := range []string{verifierNamespace, managerNamespace, keyNamespace} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	// As `keyward manager` reaches the API server.
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(apiretry.Wrap)
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
	// The deployer creates the verifier's Role, which the replicas here
	// read with.
	if _, err := manager.Setup(mgr, manager.Options{
		Parts:             manager.APIKeys | manager.VerifierDeployer,
		VerifierNamespace: verifierNamespace, ManagerNamespace: managerNamespace,
		Clock: clock.RealClock{}, Hasher: hasher, HashConcurrency: 2, MaxConcurrentReconciles: 4,
		WarnBefore: time.Second, RevokedRecordRetention: time.Hour,
		Audit: audit.NewWriter(io.Discard), DefaultAllow: true,
		Verifier: controllers.VerifierDeployment{Namespace: verifierNamespace, Image: "keyward:test", Resources: controllers.DefaultVerifierResources()},
	}); err != nil {
		return err
	}
	go func() {
		defer close(managerDone)
		managerErr = mgr.Start(ctx)
	}()
	return nil
}
