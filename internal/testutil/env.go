package testutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ErrNoAssets: KUBEBUILDER_ASSETS names no envtest binaries. `make test`
// sets it (hack/envtest-assets.sh).
var ErrNoAssets = errors.New("KUBEBUILDER_ASSETS is not set: run make test, which provides envtest's kube-apiserver and etcd")

// ErrFIPSOnly: the tests run under GODEBUG=fips140=only (make test's FIPS
// step), which etcd and kube-apiserver, Go programs that inherit it, do
// not start under; tests that need them skip there and run in the other
// steps.
var ErrFIPSOnly = errors.New("GODEBUG has fips140=only, under which envtest's etcd and kube-apiserver do not start")

// EnvOptions configure StartEnv.
type EnvOptions struct {
	// Webhooks installs config/webhook into the API server, pointed at
	// this process (Env.WebhookInstallOptions says where to serve).
	Webhooks bool
	// CRDDirs are more CRD directories, relative to the repository root,
	// installed beside keyward's (test/crds/cert-manager: cert-manager's
	// published CRDs, for the install tests).
	CRDDirs []string
	// Restartable keeps the API server's certificates in a directory of
	// their own, so that StopAPIServer and StartAPIServer take it down and
	// bring it back on the same address, with the same etcd, serving
	// certificate and users: clients made before carry on.
	Restartable bool
}

// Env is a package's API server: one per test binary, started in TestMain,
// with keyward's CRDs installed.
type Env struct {
	*envtest.Environment
	Config *rest.Config
	// certDir is the API server's certificates when Restartable.
	certDir string
}

// StartEnv starts a kube-apiserver and etcd with keyward's CRDs from
// config/crd/bases. Without the envtest binaries it returns ErrNoAssets;
// a package fails on it, or skips its API-server tests outside CI.
func StartEnv(o EnvOptions) (*Env, error) {
	if strings.Contains(os.Getenv("GODEBUG"), "fips140=only") {
		return nil, ErrFIPSOnly
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, ErrNoAssets
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	crdDirs := []string{filepath.Join(root, "config", "crd", "bases")}
	for _, dir := range o.CRDDirs {
		crdDirs = append(crdDirs, filepath.Join(root, dir))
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     crdDirs,
		ErrorIfCRDPathMissing: true,
	}
	certDir := ""
	if o.Restartable {
		// envtest draws new certificates (and forgets its users) when it
		// restarts an API server whose directory it chose itself.
		dir, err := os.MkdirTemp("", "keyward-apiserver-")
		if err != nil {
			return nil, err
		}
		certDir = dir
		api := &envtest.APIServer{CertDir: dir}
		// Its open watches would otherwise hold a graceful stop past
		// envtest's stop timeout.
		api.Configure().Set("shutdown-watch-termination-grace-period", "1s")
		env.ControlPlane.APIServer = api
	}
	if o.Webhooks {
		env.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}}
	}
	cfg, err := env.Start()
	if err != nil {
		if certDir != "" {
			_ = os.RemoveAll(certDir)
		}
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	return &Env{Environment: env, Config: cfg, certDir: certDir}, nil
}

// Stop stops the API server and etcd.
func (e *Env) Stop() {
	_ = e.Environment.Stop()
	if e.certDir != "" {
		_ = os.RemoveAll(e.certDir)
	}
}

// StopAPIServer stops the kube-apiserver process (etcd keeps running), as
// an outage of the control plane; StartAPIServer brings it back. Only for
// an Env started Restartable.
func (e *Env) StopAPIServer() error {
	if e.certDir == "" {
		return errors.New("the API server was not started restartable (EnvOptions.Restartable)")
	}
	return e.ControlPlane.APIServer.Stop()
}

// StartAPIServer starts the API server StopAPIServer stopped and returns
// once it answers its health check.
func (e *Env) StartAPIServer() error {
	if e.certDir == "" {
		return errors.New("the API server was not started restartable (EnvOptions.Restartable)")
	}
	return e.ControlPlane.APIServer.Start()
}

// RepoRoot is the directory of the module's go.mod, found upwards from the
// test's working directory (its package's directory), so that a package
// reads config/ wherever in the tree it sits.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// RepoPath is a path below RepoRoot; it panics outside the module, where
// no test of it runs.
func RepoPath(elem ...string) string {
	root, err := RepoRoot()
	if err != nil {
		panic(err)
	}
	return filepath.Join(append([]string{root}, elem...)...)
}
