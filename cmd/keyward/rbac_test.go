package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/manager"
)

// asKeyward makes the test binary run main() instead of the tests, so that
// a test can start `keyward manager` as a process of its own, with the
// flag defaults and environment of the real command.
const asKeyward = "KEYWARD_TEST_RUN_AS_KEYWARD"

func TestMain(m *testing.M) {
	if os.Getenv(asKeyward) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(runTests(m))
}

// env is the package's one API server (nil without the envtest binaries
// outside CI, where the tests that need it skip); each test works in
// namespaces and cluster-scoped objects of its own.
var env *testutil.Env

func runTests(m *testing.M) int {
	var err error
	env, err = testutil.StartEnv(testutil.EnvOptions{})
	switch {
	case errors.Is(err, testutil.ErrNoAssets) && os.Getenv("CI") != "true":
		env = nil
	case err != nil:
		// Under CI a missing API server fails the package: `make test`
		// provides one, and skipped tests there would prove nothing.
		fmt.Fprintln(os.Stderr, err)
		return 1
	default:
		defer env.Stop()
	}
	return m.Run()
}

// TestAttackVerifierReadsTheWebhookCertificate: the verifier's ServiceAccount
// may read every Secret in its namespace (records are found by label, which
// RBAC cannot narrow), so whatever else shares that namespace is the
// verifier's to read. `keyward manager` runs as a pod of the install does,
// with nothing but its defaults: POD_NAMESPACE is the manager's namespace,
// the webhook certificate is self-managed, the manager deploys the
// verifier. Whoever runs as the verifier (a compromised verifier pod, or
// anyone who may create pods with its ServiceAccount) must not get the
// webhook's private key, the leader-election Lease or anything else of the
// manager's.
func TestAttackVerifierReadsTheWebhookCertificate(t *testing.T) {
	ctx, cfg, admin := sharedAPIServer(t)
	g := NewWithT(t)
	o := testWebhookOptions(t, certModeSelfManaged)
	// The process runs with the default configuration name; no other
	// test of the package uses it.
	o.webhookConfigName = defaultWebhookConfigName
	managerNS := o.managerNamespace
	// What the install applies before the manager starts: its namespaces,
	// the empty certificate Secret, the webhook configuration.
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: managerNS, Name: o.webhookSecretName}}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNS}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "keyward-verifier"}},
		secret,
		testWebhookConfiguration(o),
	} {
		g.Expect(admin.Create(ctx, obj)).To(Succeed())
	}
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: managerNS, Name: "keyward-manager.keyward.dev"}}
	g.Expect(admin.Create(ctx, lease)).To(Succeed())

	startKeywardProcess(t, cfg, map[string]string{"POD_NAMESPACE": managerNS, "VERIFIER_IMAGE": "keyward:test"},
		"manager",
		"--metrics-bind-address=0",
		"--health-probe-bind-address="+o.probeAddr,
		"--webhook-port="+strconv.Itoa(o.webhookPort),
		"--webhook-cert-dir="+o.webhookCertDir,
	)
	g.Eventually(func(g Gomega) {
		g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(Succeed())
		g.Expect(secret.Data).To(HaveKey("tls.key"), "the manager's cert rotator fills the Secret")
	}).WithTimeout(60 * time.Second).Should(Succeed())

	// Wherever the manager deployed the verifier, its ServiceAccount
	// tries the manager's namespace.
	var verifierNS string
	g.Eventually(func(g Gomega) {
		bindings := &rbacv1.RoleBindingList{}
		g.Expect(admin.List(ctx, bindings)).To(Succeed())
		for _, b := range bindings.Items {
			if b.Name == "keyward-verifier" {
				verifierNS = b.Namespace
			}
		}
		g.Expect(verifierNS).NotTo(BeEmpty(), "the manager deploys the verifier's RoleBinding")
	}).WithTimeout(60 * time.Second).Should(Succeed())
	asVerifier := impersonating(g, cfg, "system:serviceaccount:"+verifierNS+":keyward-verifier")

	got := &corev1.Secret{}
	err := asVerifier.Get(ctx, client.ObjectKeyFromObject(secret), got)
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(),
		"the verifier's ServiceAccount (namespace %s) read the webhook's serving certificate %s/%s (tls.key: %d bytes); error: %v",
		verifierNS, managerNS, secret.Name, len(got.Data["tls.key"]), err)
	for _, list := range []client.ObjectList{&corev1.SecretList{}, &corev1.ConfigMapList{}, &coordinationv1.LeaseList{}} {
		err := asVerifier.List(ctx, list, client.InNamespace(managerNS))
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the verifier's ServiceAccount listed %T in the manager's namespace %s: %v", list, managerNS, err)
	}
	err = asVerifier.Get(ctx, client.ObjectKeyFromObject(lease), &coordinationv1.Lease{})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the verifier's ServiceAccount read the manager's leader-election Lease: %v", err)
}

// startKeywardProcess runs `keyward args...` (this test binary as main)
// against the API server of cfg, with env added to its environment, and
// stops it with SIGTERM when the test ends. Its output is printed if the
// test fails.
func startKeywardProcess(t *testing.T, cfg *rest.Config, env map[string]string, args ...string) {
	t.Helper()
	all := map[string]string{asKeyward: "1"}
	maps.Copy(all, env)
	startKeywardBinary(t, os.Args[0], cfg, all, args...)
}

// startKeywardBinary is startKeywardProcess for the keyward binary at
// path (a build of its own, such as make build-fips's).
func startKeywardBinary(t *testing.T, path string, cfg *rest.Config, env map[string]string, args ...string) {
	t.Helper()
	g := NewWithT(t)
	kubeconfig := writeKubeconfig(t, cfg)
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	g.Expect(cmd.Start()).To(Succeed())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			t.Logf("keyward %s stopped: %v", args[0], err)
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Logf("keyward %s killed: %v", args[0], <-done)
		}
		if t.Failed() {
			t.Logf("keyward %s output:\n%s", args[0], out.String())
		}
	})
}

// writeKubeconfig writes cfg (envtest's administrator) as a kubeconfig file.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	NewWithT(t).Expect(clientcmd.WriteToFile(*kc, path)).To(Succeed())
	return path
}

// impersonating is a client acting as user, with no groups but the ones
// the API server adds to every authenticated user.
func impersonating(g *WithT, cfg *rest.Config, user string) client.Client {
	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(as, client.Options{Scheme: manager.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	return c
}

// The verifier may read every Secret of its namespace: the manager refuses
// to share its own with it, whichever way it is told to.
func TestRunManagerRefusesToShareItsNamespaceWithTheVerifier(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("POD_NAMESPACE", "keyward-system")
	g.Expect(runManager([]string{"--verifier-namespace=keyward-system"})).
		To(MatchError(ContainSubstring(`--verifier-namespace must not be the manager's own namespace "keyward-system"`)))
	t.Setenv("POD_NAMESPACE", "keyward-verifier")
	g.Expect(runManager(nil)).To(MatchError(ContainSubstring(`--verifier-namespace must not be the manager's own namespace "keyward-verifier"`)))
	g.Expect(runManager([]string{"--verifier-namespace=Keyward"})).To(MatchError(ContainSubstring(`--verifier-namespace "Keyward" is not a namespace name`)))
}

// The leader-election Lease lives in the manager's namespace, also for a
// manager outside the cluster, where controller-runtime cannot tell.
func TestTheLeaseLivesInTheManagersNamespace(t *testing.T) {
	g := NewWithT(t)
	o := testWebhookOptions(t, certModeExternal)
	o.leaderElect = true
	g.Expect(managerConfig(o, nil).LeaderElectionNamespace).To(Equal(o.managerNamespace))
}
