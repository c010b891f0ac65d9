package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// envtestAssets returns the directory holding kube-apiserver, etcd and
// kubectl. hack/envtest-assets.sh is the one place that knows how to get
// them offline (building from the Go module cache if need be), so this
// defers to it rather than to setup-envtest, which needs the internet.
func envtestAssets(ctx context.Context) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		fmt.Printf("envtest binaries: %s (KUBEBUILDER_ASSETS)\n", dir)
		return dir, nil
	}
	fmt.Println("locating the envtest binaries with hack/envtest-assets.sh (the first time it builds them: ~10 minutes)...")
	cmd := exec.CommandContext(ctx, "bash", "hack/envtest-assets.sh")
	// The script's progress is on stderr: the first run is long, and a
	// silent wait would look like a hang.
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("getting the envtest binaries with hack/envtest-assets.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if dir == "" {
		return "", fmt.Errorf("hack/envtest-assets.sh printed no directory")
	}
	fmt.Printf("envtest binaries: %s\n", dir)
	return dir, nil
}

type controlPlane struct {
	env    *envtest.Environment
	assets string
	admin  client.Client
}

func startControlPlane(assets string) (*controlPlane, error) {
	cp := &controlPlane{
		assets: assets,
		env: &envtest.Environment{
			BinaryAssetsDirectory: assets,
			CRDDirectoryPaths:     []string{crdDir},
			ErrorIfCRDPathMissing: true,
			Scheme:                scheme(),
			// keyward's webhook configuration, pointed at the manager on
			// loopback with a serving certificate envtest generates, so
			// that KeyPolicies are enforced at admission here too.
			WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{webhookDir}},
		},
	}
	fmt.Println("starting etcd and kube-apiserver on loopback and installing the CRDs...")
	cfg, err := cp.env.Start()
	if err != nil {
		// Start stops what it started only on some paths; Stop is safe on
		// processes that never ran.
		_ = cp.env.Stop()
		return nil, fmt.Errorf("starting the local control plane (binaries in %s): %w", assets, err)
	}
	cp.admin, err = client.New(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		cp.stop()
		return nil, fmt.Errorf("creating a client for the local control plane: %w", err)
	}
	return cp, nil
}

// webhookArgs point the manager's webhook server at what envtest set up.
func (cp *controlPlane) webhookArgs() []string {
	w := cp.env.WebhookInstallOptions
	return []string{
		"--enable-webhooks=true",
		"--webhook-cert-mode=external",
		"--webhook-cert-dir=" + w.LocalServingCertDir,
		"--webhook-port=" + strconv.Itoa(w.LocalServingPort),
	}
}

func (cp *controlPlane) stop() {
	fmt.Println("stopping the control plane (kube-apiserver, etcd)...")
	if err := cp.env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "run-local: stopping the control plane: %v\n", err)
	}
}

// writeAdminKubeconfig provisions a user of its own for people and their
// kubectl, apart from envtest's internal default user, and writes its
// kubeconfig. It holds a client key, hence 0600.
func (cp *controlPlane) writeAdminKubeconfig(dir string) (string, error) {
	user, err := cp.env.ControlPlane.AddUser(envtest.User{Name: "keyward-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("adding the keyward-admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("rendering the keyward-admin kubeconfig: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	path, err := filepath.Abs(filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return "", err
	}
	if err := writePrivateFile(path, data); err != nil {
		return "", fmt.Errorf("writing the kubeconfig: %w", err)
	}
	return path, nil
}

// writePrivateFile makes sure the file is 0600 before the secret goes in,
// even when an older copy with a wider mode exists.
func writePrivateFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func (cp *controlPlane) createNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := cp.admin.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// kubectlPath prefers the kubectl next to the envtest binaries, which
// matches the API server's version and exists even where none is installed.
func (cp *controlPlane) kubectlPath() string {
	if p := filepath.Join(cp.assets, "kubectl"); isExecutable(p) {
		return p
	}
	return "kubectl"
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(keywardv1.AddToScheme(s))
	return s
}

// kubectl runs the real kubectl as a user would, against the admin
// kubeconfig.
type kubectl struct {
	path, kubeconfig string
}

func (k kubectl) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, k.path, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig)
	return cmd
}

// run streams kubectl's output to the user; on failure its stderr also goes
// into the error, which is what the user needs to read.
func (k kubectl) run(ctx context.Context, args ...string) error {
	cmd := k.command(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stdout = os.Stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
