package soak

import (
	"context"
	"fmt"
	"io"
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
	// mgr is the manager, which must outlive the soak.
	mgr *harness.Manager
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
	var err error
	mgr, err = harness.StartManager(ctx, env.Config, harness.ManagerOptions{
		VerifierNamespace: verifierNamespace, ManagerNamespace: managerNamespace, Namespaces: []string{keyNamespace},
		Iterations: testIterations, Audit: io.Discard,
	})
	if err != nil {
		return err
	}
	k8s = mgr.Client
	return nil
}
