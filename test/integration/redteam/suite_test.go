package redteam

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/logging"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/manager"
	"github.com/keyward-dev/keyward/test/integration/harness"
	"github.com/keyward-dev/keyward/verifier"
)

// The product as a cluster runs it: the webhook registered with the API
// server, the manager's controllers, and the verifier reading records with
// exactly the Role the manager gives it. Attackers are namespace editors
// (the built-in "edit" ClusterRole plus keyward's editor roles, as
// aggregation grants them), each with a namespace of their own.
const (
	// managerNamespace holds what only the manager reads.
	managerNamespace = "keyward-system"
	// verifierNamespace holds the records, signing keys and usage reports.
	verifierNamespace = "keyward-verifier"
	// testIterations keeps key creation fast; the verifier reads the
	// iteration count from each hash.
	testIterations = 1000
	verifierUser   = "system:serviceaccount:" + verifierNamespace + ":keyward-verifier"
	waitFor        = 30 * time.Second
	// trustedCaller is the one address the verifier believes a decision
	// request's environment from.
	trustedCaller = "127.0.0.2"
)

var (
	testEnv *envtest.Environment
	// admin is the cluster administrator.
	admin      client.Client
	restConfig *rest.Config
	watch      *verifier.Watch
	signing    *verifier.SigningWatch
	v          *verifier.Verifier
	// verifierURL serves the decision API and forward-auth, publicURL the
	// OAuth endpoints (token, JWKS, metadata).
	verifierURL, publicURL string
	// managerTrail is the manager's and the webhook's audit trail,
	// verifierTrail the verifier's access log.
	managerTrail  = &testutil.SyncBuffer{}
	verifierTrail = &testutil.SyncBuffer{}
	// managerLog captures the manager's log at its most verbose level.
	managerLog = &testutil.SyncBuffer{}
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctrl.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	env, err := testutil.StartEnv(testutil.EnvOptions{Webhooks: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testEnv = env.Environment
	defer env.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := start(ctx, env.Config); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if code != 0 && os.Getenv("REDTEAM_DUMP_LOG") != "" {
		// For a person debugging a failure: the manager's log.
		fmt.Fprintln(os.Stderr, managerLog.String())
	}
	return code
}

func start(ctx context.Context, cfg *rest.Config) error {
	restConfig = cfg
	var err error
	if admin, err = client.New(cfg, client.Options{Scheme: manager.Scheme()}); err != nil {
		return err
	}
	for _, ns := range []string{managerNamespace, verifierNamespace} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	if err := installEditorRoles(ctx); err != nil {
		return err
	}
	if err := installManagerRBAC(ctx); err != nil {
		return err
	}
	if err := startManager(ctx, cfg); err != nil {
		return err
	}
	return startVerifier(ctx, cfg)
}

// installEditorRoles creates keyward's editor ClusterRoles from
// config/rbac. Aggregation into "edit" is the job of a controller envtest
// does not run, so tenants are bound to them beside "edit".
func installEditorRoles(ctx context.Context) error {
	for _, f := range []string{"apikey_editor_role.yaml", "signingkey_editor_role.yaml"} {
		b, err := os.ReadFile(testutil.RepoPath("config", "rbac", f))
		if err != nil {
			return err
		}
		role := &rbacv1.ClusterRole{}
		if err := yaml.UnmarshalStrict(b, role); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := admin.Create(ctx, role); err != nil {
			return err
		}
	}
	return nil
}

// startManager runs the manager's controllers and webhooks as its
// ServiceAccount (installManagerRBAC).
func startManager(ctx context.Context, cfg *rest.Config) error {
	opts := testEnv.WebhookInstallOptions
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: managerUser}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: manager.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: controllers.CacheOptions(verifierNamespace),
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: opts.LocalServingHost, Port: opts.LocalServingPort, CertDir: opts.LocalServingCertDir,
		}),
		// The most verbose level the manager allows (internal/logging caps
		// it), so that a secret in any log line is found.
		Logger: logging.Cap(zap.New(zap.WriteTo(managerLog), zap.Level(zapcore.Level(-127)))),
	})
	if err != nil {
		return err
	}
	hasher, err := keys.NewHasher(testIterations, true)
	if err != nil {
		return err
	}
	if _, err := manager.Setup(mgr, manager.Options{
		Parts:             manager.All,
		VerifierNamespace: verifierNamespace, ManagerNamespace: managerNamespace,
		Clock: clock.RealClock{}, Hasher: hasher, HashConcurrency: 2, MaxConcurrentReconciles: 4,
		WarnBefore: time.Second, RevokedRecordRetention: time.Hour,
		Audit: audit.NewWriter(managerTrail), DefaultAllow: defaultAllow,
		Verifier: controllers.VerifierDeployment{Namespace: verifierNamespace, Image: "keyward:test", Resources: controllers.DefaultVerifierResources()},
	}); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
			os.Exit(1)
		}
	}()
	return testutil.WaitForTLS(opts.LocalServingHost, opts.LocalServingPort, 20*time.Second)
}

// defaultAllow is the manager's default for namespaces no KeyPolicy
// selects, as `keyward manager` sets it without flags
// (--default-policy=deny).
var defaultAllow = false

// startVerifier runs the verifier as `keyward verifier` does, as the
// verifier's ServiceAccount.
func startVerifier(ctx context.Context, cfg *rest.Config) error {
	started, err := harness.StartVerifier(ctx, cfg, harness.VerifierOptions{
		Namespace: verifierNamespace, User: verifierUser,
		Config: verifier.Config{
			// The one caller whose decision requests may state an environment.
			TrustedCallers: []string{trustedCaller + "/32"},
		},
		Audit: verifierTrail,
	})
	if err != nil {
		return err
	}
	watch, signing, v = started.Watch, started.Signing, started.Verifier
	verifierURL, publicURL = started.URL, started.PublicURL
	return nil
}
