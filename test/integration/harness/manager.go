package harness

import (
	"context"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/apiretry"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/manager"
)

// ManagerOptions are what the suites' managers differ in.
type ManagerOptions struct {
	// VerifierNamespace and ManagerNamespace are created with Namespaces.
	VerifierNamespace, ManagerNamespace string
	Namespaces                          []string
	// Iterations is PBKDF2's count: low, so that minting is fast; the
	// verifier caches a verified secret, so it is paid once per secret.
	Iterations int
	// Audit receives the manager's audit trail.
	Audit io.Writer
}

// Manager is a manager running in the test process, for the APIKeys and
// the verifier's Role, as `keyward manager` runs them.
type Manager struct {
	// Client reads and writes as the test.
	Client client.Client
	// Done is closed when the manager's Start returned, with its error in
	// Err: a suite checks that the manager outlived what it put it through.
	Done <-chan struct{}
	Err  error
}

// StartManager creates the namespaces and starts the manager until ctx
// ends. Its client retries as `keyward manager`'s does (apiretry).
func StartManager(ctx context.Context, cfg *rest.Config, o ManagerOptions) (*Manager, error) {
	scheme := manager.Scheme()
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	for _, ns := range append([]string{o.VerifierNamespace, o.ManagerNamespace}, o.Namespaces...) {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return nil, err
		}
	}
	mgrCfg := rest.CopyConfig(cfg)
	mgrCfg.Wrap(apiretry.Wrap)
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, Cache: controllers.CacheOptions(o.VerifierNamespace),
	})
	if err != nil {
		return nil, err
	}
	hasher, err := keys.NewHasher(o.Iterations, true)
	if err != nil {
		return nil, err
	}
	// The deployer creates the verifier's Role, which the suites'
	// verifiers read with.
	if _, err := manager.Setup(mgr, manager.Options{
		Parts:             manager.APIKeys | manager.VerifierDeployer,
		VerifierNamespace: o.VerifierNamespace, ManagerNamespace: o.ManagerNamespace,
		Clock: clock.RealClock{}, Hasher: hasher, HashConcurrency: 2, MaxConcurrentReconciles: 4,
		WarnBefore: time.Second, RevokedRecordRetention: time.Hour,
		Audit: audit.NewWriter(o.Audit), DefaultAllow: true,
		Verifier: controllers.VerifierDeployment{Namespace: o.VerifierNamespace, Image: "keyward:test", Resources: controllers.DefaultVerifierResources()},
	}); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	m := &Manager{Client: k8s, Done: done}
	go func() {
		defer close(done)
		m.Err = mgr.Start(ctx)
	}()
	return m, nil
}
