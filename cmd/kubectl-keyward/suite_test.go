package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/manager"
)

// The plugin runs in-process against an API server with keyward's webhook
// registered and the manager (controllers, webhooks, verifier deployer)
// running, with a kubeconfig the suite writes: as a user would run it.
const (
	managerNamespace = "keyward-system"
	testIterations   = 1000
	waitFor          = 30 * time.Second
)

var (
	testEnv *envtest.Environment
	admin   client.Client
	// adminKubeconfig is a kubeconfig file of a cluster administrator.
	adminKubeconfig string
	kubeconfigDir   string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctrl.SetLogger(logr.Discard())
	// API warnings (the webhook's) go through klog; tests read stderr only.
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
	if kubeconfigDir, err = os.MkdirTemp("", "kubectl-keyward-test"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(kubeconfigDir)
	if err := start(ctx, env.Config); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func start(ctx context.Context, cfg *rest.Config) error {
	var err error
	if admin, err = client.New(cfg, client.Options{Scheme: manager.Scheme()}); err != nil {
		return err
	}
	for _, ns := range []string{managerNamespace, defaultVerifierNamespace} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	if adminKubeconfig, err = writeKubeconfig(envtest.User{Name: "admin", Groups: []string{"system:masters"}}); err != nil {
		return err
	}
	return startManager(ctx, cfg)
}

func startManager(ctx context.Context, cfg *rest.Config) error {
	opts := testEnv.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: manager.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: controllers.CacheOptions(defaultVerifierNamespace),
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: opts.LocalServingHost, Port: opts.LocalServingPort, CertDir: opts.LocalServingCertDir,
		}),
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
		VerifierNamespace: defaultVerifierNamespace, ManagerNamespace: managerNamespace,
		Clock: clock.RealClock{}, Hasher: hasher, HashConcurrency: 2, MaxConcurrentReconciles: 4,
		WarnBefore: time.Second, RevokedRecordRetention: time.Hour,
		Audit: audit.Discard{}, DefaultAllow: true,
		Verifier: controllers.VerifierDeployment{Namespace: defaultVerifierNamespace, Image: "keyward:test", Resources: controllers.DefaultVerifierResources()},
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

// writeKubeconfig writes a kubeconfig file for user, as `kubectl config`
// would hold it.
func writeKubeconfig(user envtest.User) (string, error) {
	u, err := testEnv.ControlPlane.AddUser(user, nil)
	if err != nil {
		return "", err
	}
	b, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(kubeconfigDir, user.Name+".kubeconfig")
	return path, os.WriteFile(path, b, 0o600)
}

// result is one run of the plugin.
type result struct {
	stdout, stderr string
	code           int
}

// plugin runs `kubectl keyward args...` in-process with kubeconfig and
// stdin, as a shell would.
func plugin(kubeconfig, stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	code := Execute(append([]string{"--kubeconfig", kubeconfig}, args...),
		genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// asAdmin runs the plugin as the cluster administrator.
func asAdmin(args ...string) result { return plugin(adminKubeconfig, "", args...) }

// namespace creates a namespace for one test.
func namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "plugin-", Labels: labels}}
	NewWithT(t).Expect(admin.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}

// readyKey creates an APIKey as the administrator and waits until keyward
// has issued it.
func readyKey(t *testing.T, ns, name, owner string, mutate ...func(*keywardv1.APIKey)) *keywardv1.APIKey {
	t.Helper()
	g := NewWithT(t)
	k := &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       keywardv1.APIKeySpec{Owner: owner, Scopes: []keywardv1.Scope{"acme/payments/invoices:read"}},
	}
	for _, m := range mutate {
		m(k)
	}
	g.Expect(admin.Create(context.Background(), k)).To(Succeed())
	return waitIssued(t, ns, name)
}

func waitIssued(t *testing.T, ns, name string) *keywardv1.APIKey {
	t.Helper()
	k := &keywardv1.APIKey{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, k)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(k.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue(), "Ready: %v", k.Status.Conditions)
		g.Expect(k.Status.Prefix).NotTo(BeEmpty())
	}, waitFor, 100*time.Millisecond).Should(Succeed())
	return k
}

func getKey(t *testing.T, ns, name string) *keywardv1.APIKey {
	t.Helper()
	k := &keywardv1.APIKey{}
	NewWithT(t).Expect(admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, k)).To(Succeed())
	return k
}

// deliveredKey is the plaintext in the key's delivery Secret.
func deliveredKey(t *testing.T, k *keywardv1.APIKey) string {
	t.Helper()
	var s corev1.Secret
	NewWithT(t).Expect(admin.Get(context.Background(), client.ObjectKey{Namespace: k.Namespace, Name: k.Status.SecretName}, &s)).To(Succeed())
	return string(s.Data[deliveryKeyField])
}

// tenant is a user who may do everything with keyward's kinds, Secrets
// and Events in namespace ns, and nothing elsewhere.
func tenant(t *testing.T, name, ns string) string {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "keyward-user"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{keywardv1.GroupVersion.Group}, Resources: []string{"apikeys", "signingkeys"}, Verbs: []string{"*"}},
			{APIGroups: []string{""}, Resources: []string{"secrets", "events"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
	g.Expect(admin.Create(ctx, role)).To(Succeed())
	g.Expect(admin.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "keyward-user-" + name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}},
	})).To(Succeed())
	path, err := writeKubeconfig(envtest.User{Name: name})
	g.Expect(err).NotTo(HaveOccurred())
	return path
}

func keyOf(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
