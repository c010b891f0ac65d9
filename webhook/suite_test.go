package webhook

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// verifierNamespace is where the validators look for published kids.
const verifierNamespace = "keyward-verifier"

// One API server with keyward's webhook configuration installed
// (config/webhook, pointed at this process by envtest) and the validators
// serving it; each test works in namespaces of its own.
var (
	testEnv *envtest.Environment
	k8s     client.Client
	// cached reads what the validators read.
	cached     client.Reader
	auditLines = &testutil.SyncBuffer{}
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapLevelError)))
	env, err := testutil.StartEnv(testutil.EnvOptions{Webhooks: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testEnv = env.Environment
	defer env.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	defer func() { cancel(); <-stopped }()
	// The validators alone, registered by Setup as manager.Setup does:
	// package manager imports this one, so this suite cannot use it.
	if err := startValidators(ctx, env.Config, stopped); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(keywardv1.AddToScheme(s))
	return s
}

func startValidators(ctx context.Context, cfg *rest.Config, stopped chan<- struct{}) error {
	var err error
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme()}); err != nil {
		return err
	}
	opts := testEnv.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: opts.LocalServingHost, Port: opts.LocalServingPort, CertDir: opts.LocalServingCertDir,
		}),
	})
	if err != nil {
		return err
	}
	if err := Setup(mgr, Options{DefaultAllow: true, Audit: audit.NewWriter(auditLines), VerifierNamespace: verifierNamespace}); err != nil {
		return err
	}
	cached = mgr.GetClient()
	go func() { defer close(stopped); _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("cache did not sync")
	}
	// Serving means the API server can reach us: wait for the TLS port.
	return testutil.WaitForTLS(opts.LocalServingHost, opts.LocalServingPort, 20*time.Second)
}

// namespaceWithLabels creates a namespace for one test.
func namespaceWithLabels(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "wh-", Labels: labels}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}
