// Package install checks what an operator installs keyward from (the
// kustomizations under config/, the one-file installers in dist/ and the
// Helm chart) against a real API server: everything is applied with
// server-side dry run, as `kubectl apply --server-side --dry-run=server`
// would, to an envtest kube-apiserver that also has cert-manager's
// published CRDs (test/crds/cert-manager).
package install

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/manager"
)

// fieldManager is the field manager of every apply: the one kubectl uses.
const fieldManager = "kubectl"

var (
	// k8s is the envtest administrator's client; nil without the envtest
	// binaries outside CI, where the tests that need it skip.
	k8s client.Client
	// kubectl is envtest's kubectl (the version the Makefile pins), so a
	// kustomization renders here as it does in `make build-installer`.
	kubectl string
	// kubeconfig is a file that gives helm the administrator's access to
	// the envtest API server.
	kubeconfig string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	env, err := testutil.StartEnv(testutil.EnvOptions{CRDDirs: []string{"test/crds/cert-manager"}})
	switch {
	case errors.Is(err, testutil.ErrNoAssets) && os.Getenv("CI") != "true":
		return m.Run()
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Stop()
	if k8s, err = client.New(env.Config, client.Options{Scheme: manager.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kubectl = filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	dir, err := os.MkdirTemp("", "keyward-install-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if kubeconfig, err = writeKubeconfig(env, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// needAPIServer skips a test outside CI when there is no envtest.
func needAPIServer(t *testing.T) {
	t.Helper()
	if k8s == nil {
		t.Skip(testutil.ErrNoAssets)
	}
}

// writeKubeconfig writes a kubeconfig of a cluster administrator of env
// into dir and returns its path.
func writeKubeconfig(env *testutil.Env, dir string) (string, error) {
	admin, err := env.ControlPlane.AddUser(envtest.User{Name: "install-tests", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	config, err := admin.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, config, 0o600)
}
