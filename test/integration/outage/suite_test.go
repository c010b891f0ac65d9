package outage

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/test/integration/harness"
)

const (
	verifierNamespace = "keyward-verifier"
	managerNamespace  = "keyward-system"
	verifierUser      = "system:serviceaccount:" + verifierNamespace + ":keyward-verifier"
	// testIterations keeps key creation fast.
	testIterations = 1000
	waitFor        = 30 * time.Second
)

var (
	env *testutil.Env
	k8s client.Client
	// managerTrail is the manager's audit trail.
	managerTrail = &testutil.SyncBuffer{}
	// mgr is the manager, which must outlive every outage.
	mgr *harness.Manager
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctrl.SetLogger(logr.Discard())
	// While the API server is away, client-go says so on every retry.
	klog.SetLogger(logr.Discard())
	var err error
	if env, err = testutil.StartEnv(testutil.EnvOptions{Restartable: true}); err != nil {
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
	var err error
	mgr, err = harness.StartManager(ctx, env.Config, harness.ManagerOptions{
		VerifierNamespace: verifierNamespace, ManagerNamespace: managerNamespace,
		Iterations: testIterations, Audit: managerTrail,
	})
	if err != nil {
		return err
	}
	k8s = mgr.Client
	return nil
}
