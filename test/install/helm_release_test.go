package install

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// releaseRuns numbers the releases the tests install. envtest runs no
// namespace controller, so a namespace deleted by one run stays
// Terminating; a second run in the same process (-count=2) installs into
// namespaces of its own.
var releaseRuns atomic.Int64

// testRelease is the release "keyward" of the chart, installed by one test
// into envtest in namespaces of its own. Nothing runs its pods (envtest
// has no nodes): the tests check what Helm applies and removes.
type testRelease struct {
	t    *testing.T
	helm string
	// namespace is the release namespace, verifierNamespace the verifier
	// namespace the test installs with.
	namespace, verifierNamespace string
}

// newRelease names a release and registers its removal before anything is
// installed: an install that fails half-way leaves a webhook configuration
// (failurePolicy Fail) calling a Service without pods, which would refuse
// every keyward object of the tests after it.
func newRelease(t *testing.T, name string) *testRelease {
	t.Helper()
	helm := helmBinary(t)
	needAPIServer(t)
	run := releaseRuns.Add(1)
	r := &testRelease{
		t:                 t,
		helm:              helm,
		namespace:         fmt.Sprintf("%s-%d", name, run),
		verifierNamespace: fmt.Sprintf("%s-%d-verifier", name, run),
	}
	t.Cleanup(r.remove)
	return r
}

// run runs a helm command against the release and returns its output.
func (r *testRelease) run(args ...string) (string, error) {
	r.t.Helper()
	return runHelm(r.t, r.helm, append(args, "--kubeconfig", kubeconfig, "--namespace", r.namespace)...)
}

// must runs a helm command that must succeed and returns its output.
func (r *testRelease) must(g Gomega, args ...string) string {
	r.t.Helper()
	out, err := r.run(args...)
	g.Expect(err).NotTo(HaveOccurred(), out)
	return out
}

// remove uninstalls the release, if the test has not, and deletes the
// webhook configuration whatever Helm recorded.
func (r *testRelease) remove() {
	if out, err := r.run("uninstall", "keyward", "--ignore-not-found"); err != nil {
		r.t.Errorf("helm uninstall: %v\n%s", err, out)
	}
	config := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	config.Name = "keyward-validating-webhook-configuration"
	if err := k8s.Delete(context.Background(), config); client.IgnoreNotFound(err) != nil {
		r.t.Errorf("deleting the webhook configuration: %v", err)
	}
}

// get reads an object of the cluster.
func get(obj client.Object, namespace, name string) error {
	return k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, obj)
}

// expectNamespaceKept: the namespace exists and is not being deleted.
func expectNamespaceKept(g Gomega, name, why string) {
	ns := &corev1.Namespace{}
	g.Expect(get(ns, "", name)).To(Succeed(), why)
	g.Expect(ns.DeletionTimestamp).To(BeNil(), why)
}

// TestChartInstallsUpgradesAndUninstalls runs helm itself against envtest:
// install with the defaults, upgrade to a certificate from cert-manager and
// back, uninstall, install again. The self-managed Secret leaves the
// release on the way to cert-manager; on the way back the Secret
// cert-manager wrote must be deleted first. The uninstall removes the
// manager and its webhook, and keeps the CRDs (so every APIKey,
// SigningKey and KeyPolicy) and the verifier namespace (so every key
// record, the only copy of the keys' hashes, and every issuer's private
// key); the next install takes the kept namespace over.
func TestChartInstallsUpgradesAndUninstalls(t *testing.T) {
	r := newRelease(t, "helm-release")
	g := NewWithT(t)
	ctx := context.Background()
	const webhookSecret = "keyward-webhook-server-cert"

	r.must(g, "install", "keyward", chartDir, "--create-namespace", "--set", "verifier.namespace="+r.verifierNamespace)
	manager := &appsv1.Deployment{}
	g.Expect(get(manager, r.namespace, "keyward-controller-manager")).To(Succeed())
	g.Expect(manager.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "Helm"))
	g.Expect(manager.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--verifier-namespace=" + r.verifierNamespace))
	g.Expect(get(&corev1.Secret{}, r.namespace, webhookSecret)).To(Succeed())
	g.Expect(get(&corev1.Namespace{}, "", r.verifierNamespace)).To(Succeed())
	g.Expect(get(&rbacv1.Role{}, r.verifierNamespace, "keyward-manager-verifier-role")).To(Succeed())

	r.must(g, "upgrade", "keyward", chartDir, "--reuse-values", "--set", "webhook.certificate.source=certManager")
	g.Expect(get(manager, r.namespace, "keyward-controller-manager")).To(Succeed())
	g.Expect(manager.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--webhook-cert-mode=external"))
	g.Expect(manager.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--verifier-namespace="+r.verifierNamespace),
		"--reuse-values keeps the verifier namespace")
	g.Expect(get(unstructuredOf("cert-manager.io/v1", "Certificate"), r.namespace, "keyward-serving-cert")).To(Succeed())
	g.Expect(apierrors.IsNotFound(get(&corev1.Secret{}, r.namespace, webhookSecret))).To(BeTrue(),
		"the self-managed Secret left the release, so that cert-manager writes its own")

	// Back to the self-managed certificate. cert-manager (which envtest
	// does not run) would have written the Secret; Helm cannot take over
	// a Secret it did not create.
	issued := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: webhookSecret},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": []byte("issued by cert-manager"), "tls.key": []byte("its key")},
	}
	g.Expect(k8s.Create(ctx, issued)).To(Succeed())
	out, err := r.run("upgrade", "keyward", chartDir, "--reuse-values", "--set", "webhook.certificate.source=selfManaged")
	g.Expect(err).To(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring(`the Secret keyward-webhook-server-cert in namespace %q was not created by this release`, r.namespace))
	g.Expect(out).To(ContainSubstring("delete the Certificate keyward-serving-cert, then the Secret"))
	// As the README says: the Certificate first, or cert-manager writes
	// the Secret again.
	certificate := unstructuredOf("cert-manager.io/v1", "Certificate")
	certificate.SetNamespace(r.namespace)
	certificate.SetName("keyward-serving-cert")
	g.Expect(k8s.Delete(ctx, certificate)).To(Succeed())
	g.Expect(k8s.Delete(ctx, issued)).To(Succeed())
	r.must(g, "upgrade", "keyward", chartDir, "--reuse-values", "--set", "webhook.certificate.source=selfManaged")
	secret := &corev1.Secret{}
	g.Expect(get(secret, r.namespace, webhookSecret)).To(Succeed())
	g.Expect(secret.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "Helm"), "the release's Secret, for the manager to fill")
	g.Expect(get(manager, r.namespace, "keyward-controller-manager")).To(Succeed())
	g.Expect(manager.Spec.Template.Spec.Containers[0].Args).NotTo(ContainElement(HavePrefix("--webhook-cert-mode")))
	g.Expect(apierrors.IsNotFound(get(unstructuredOf("cert-manager.io/v1", "Certificate"), r.namespace, "keyward-serving-cert"))).To(BeTrue())

	// Without --wait: envtest runs no namespace controller, so a deleted
	// namespace would stay Terminating; the check below sees that it was
	// not deleted at all.
	r.must(g, "uninstall", "keyward")
	g.Eventually(func() error { return get(&appsv1.Deployment{}, r.namespace, "keyward-controller-manager") }).
		WithTimeout(30 * time.Second).Should(Satisfy(apierrors.IsNotFound))
	g.Eventually(func() error {
		return get(&admissionregistrationv1.ValidatingWebhookConfiguration{}, "", "keyward-validating-webhook-configuration")
	}).WithTimeout(30 * time.Second).Should(Satisfy(apierrors.IsNotFound))
	g.Expect(get(unstructuredOf("apiextensions.k8s.io/v1", "CustomResourceDefinition"), "", "apikeys.keyward.dev")).To(Succeed(),
		"Helm keeps the CRDs, and with them every APIKey")
	expectNamespaceKept(g, r.verifierNamespace, "the verifier namespace holds the key records and the issuers' private keys")

	r.must(g, "install", "keyward", chartDir, "--set", "verifier.namespace="+r.verifierNamespace)
	expectNamespaceKept(g, r.verifierNamespace, "installed again, the release takes the kept namespace over")
}

// TestChartUpgradeKeepsTheVerifierNamespaceItNoLongerCreates: an upgrade
// that moves the verifier to another namespace, or stops creating it,
// leaves the namespace (and the keys in it) where it was.
func TestChartUpgradeKeepsTheVerifierNamespaceItNoLongerCreates(t *testing.T) {
	r := newRelease(t, "helm-moved")
	g := NewWithT(t)
	moved := r.verifierNamespace + "-moved"

	r.must(g, "install", "keyward", chartDir, "--create-namespace", "--set", "verifier.namespace="+r.verifierNamespace)
	r.must(g, "upgrade", "keyward", chartDir, "--reuse-values", "--set", "verifier.namespace="+moved)
	expectNamespaceKept(g, r.verifierNamespace, "the verifier moved away from it")
	expectNamespaceKept(g, moved, "created by the upgrade")

	r.must(g, "upgrade", "keyward", chartDir, "--reuse-values", "--set", "verifier.createNamespace=false")
	expectNamespaceKept(g, moved, "verifier.createNamespace turned false")
}

// TestChartInstallLeavesAnExistingKeyPolicyAlone: with keyPolicy.create, a
// KeyPolicy of that name that exists already (an administrator's) is
// neither deleted nor replaced, and the install says so.
func TestChartInstallLeavesAnExistingKeyPolicyAlone(t *testing.T) {
	r := newRelease(t, "helm-policy")
	g := NewWithT(t)
	ctx := context.Background()
	existing := &keywardv1.KeyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: r.namespace},
		Spec: keywardv1.KeyPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}},
			AllowedScopes:     []keywardv1.Scope{"acme/payments/*:read"},
		},
	}
	g.Expect(k8s.Create(ctx, existing)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), existing) })

	out, err := r.run("install", "keyward", chartDir, "--create-namespace",
		"--set", "verifier.namespace="+r.verifierNamespace,
		"--set", "keyPolicy.create=true", "--set", "keyPolicy.name="+existing.Name,
		"--set-json", `keyPolicy.spec.allowedScopes=["acme/*/*:admin"]`)

	policy := &keywardv1.KeyPolicy{}
	g.Expect(get(policy, "", existing.Name)).To(Succeed(), "the install deleted the existing KeyPolicy\n%s", out)
	g.Expect(policy.UID).To(Equal(existing.UID), "the same object, not one created again")
	g.Expect(policy.Spec).To(Equal(existing.Spec))
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("The KeyPolicy %q exists already: the chart left it as it is", existing.Name))
}
