package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/argocd"
	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/argocdhealth"
)

// updateArgoCDTestdata, set to 1, makes TestArgoCDHealthOfLiveObjects
// write the objects it judged into the health scripts' testdata (as
// captured-*.yaml) and their health into health_test.yaml. Without it the
// test only asserts.
const updateArgoCDTestdata = "KEYWARD_UPDATE_ARGOCD_TESTDATA"

// argocdDir is the argocd package's directory, seen from this one.
var argocdDir = filepath.Join("..", "..", "argocd")

// TestArgoCDHealthOfLiveObjects drives APIKeys, SigningKeys and
// KeyPolicies through their states on a real API server with the real
// manager, and runs Argo CD's health scripts on each live object, as Argo
// CD would read it. Names are fixed so that captured files change only
// where keyward's output does; every object goes when the test ends, so
// that it runs again on the same API server.
func TestArgoCDHealthOfLiveObjects(t *testing.T) {
	g := NewWithT(t)
	ns := healthNamespace(g, "argocd-health")
	spec := func() keywardv1.APIKeySpec {
		return keywardv1.APIKeySpec{Owner: "15a6", Scopes: []keywardv1.Scope{"acme/payments/investigations:read"}}
	}

	// Nothing runs pods in envtest: the verifier has no replica until the
	// test writes the Deployment status a running one would have.
	setVerifierAvailableReplicas(g, 0)
	t.Cleanup(func() { setVerifierAvailableReplicas(NewWithT(t), 0) })
	createAPIKey(t, g, ns, "verifier-unavailable", spec())
	expectHealth(t, "APIKey", ns, "verifier-unavailable", argocdhealth.Degraded,
		"Verifier unavailable: The verifier Deployment "+verifierNamespace+"/"+controllers.VerifierName+" has no available replica")

	setVerifierAvailableReplicas(g, 1)
	createAPIKey(t, g, ns, "ready", spec())
	expectHealth(t, "APIKey", ns, "ready", argocdhealth.Healthy, "The key is delivered to Secret ready and published to the verifier.")

	rotating := spec()
	rotating.Rotation = &keywardv1.Rotation{GracePeriodSeconds: ptrTo(int64(3600))}
	createAPIKey(t, g, ns, "rotating", rotating)
	waitForHealth(g, "APIKey", ns, "rotating", argocdhealth.Healthy)
	patchSpec(g, ns, "rotating", `{"spec":{"rotation":{"trigger":"now"}}}`)
	expectHealth(t, "APIKey", ns, "rotating", argocdhealth.Healthy, "Rotating: The previous secret verifies until ")

	createAPIKey(t, g, ns, "suspended", spec())
	waitForHealth(g, "APIKey", ns, "suspended", argocdhealth.Healthy)
	patchSpec(g, ns, "suspended", `{"spec":{"suspended":true}}`)
	expectHealth(t, "APIKey", ns, "suspended", argocdhealth.Suspended, "Suspended: The key is suspended (spec.suspended)")

	createAPIKey(t, g, ns, "revoked", spec())
	waitForHealth(g, "APIKey", ns, "revoked", argocdhealth.Healthy)
	patchSpec(g, ns, "revoked", `{"spec":{"revoked":true}}`)
	expectHealth(t, "APIKey", ns, "revoked", argocdhealth.Degraded, "Revoked: The key is revoked", "create a new APIKey")

	// A Secret of the delivery Secret's name that keyward did not make.
	conflict := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "secret-conflict"}, StringData: map[string]string{"key": "not keyward's"}}
	createForThisRun(t, g, conflict)
	createAPIKey(t, g, ns, "secret-conflict", spec())
	expectHealth(t, "APIKey", ns, "secret-conflict", argocdhealth.Degraded,
		`SecretConflict: Secret "secret-conflict" already exists and does not belong to this APIKey`)

	expiring := spec()
	expiring.Expiration = &keywardv1.Expiration{At: &metav1.Time{Time: time.Now().Add(3 * time.Second)}}
	createAPIKey(t, g, ns, "expired", expiring)
	expectHealth(t, "APIKey", ns, "expired", argocdhealth.Degraded, "Expired: The key expired at ", "Move spec.expiration later")

	// A policy that suspends the keys it does not allow, and one that
	// only reports them, each on a namespace of its own.
	for _, enforcement := range []keywardv1.EnforcementMode{keywardv1.EnforcementSuspend, keywardv1.EnforcementReport} {
		policyNS := healthNamespace(g, "argocd-health-"+enforcementName(enforcement))
		createKeyPolicy(t, g, policyNS, enforcement)
		createAPIKey(t, g, policyNS, "policy-violation", keywardv1.APIKeySpec{Owner: "15a6", Scopes: []keywardv1.Scope{"acme/billing/invoices:read"}})
	}
	expectHealthAs(t, "APIKey", "argocd-health-suspend", "policy-violation", "policy-suspended", argocdhealth.Degraded,
		"PolicyViolated: The key is suspended until it complies: ")
	expectHealthAs(t, "APIKey", "argocd-health-report", "policy-violation", "policy-reported", argocdhealth.Degraded,
		"Policy violated: ", "Change the key, or the KeyPolicy")
	expectHealthAs(t, "KeyPolicy", "", "argocd-health-report", "governs-violating-key", argocdhealth.Healthy,
		"It governs 1 APIKey(s); 1 of them violate it")

	ensureIssuer(t, g)
	expectHealthAs(t, "SigningKey", verifierNamespace, "issuer", "issuer-ready", argocdhealth.Healthy,
		"The key is published to the verifier in "+verifierNamespace+".")
	createIssuer(t, g, ns, "issuer-outside-verifier-namespace")
	expectHealth(t, "SigningKey", ns, "issuer-outside-verifier-namespace", argocdhealth.Degraded,
		"IssuerOutsideVerifierNamespace: Issuer keys are used only from the verifier namespace "+verifierNamespace)
	createClientKey(t, g, ns, "client-for-missing-apikey", "no-such-key")
	expectHealth(t, "SigningKey", ns, "client-for-missing-apikey", argocdhealth.Degraded,
		`APIKeyNotReady: APIKey "no-such-key" does not exist in this namespace.`)
	createClientKey(t, g, ns, "client-for-revoked-apikey", "revoked")
	expectHealth(t, "SigningKey", ns, "client-for-revoked-apikey", argocdhealth.Degraded,
		`APIKeyNotReady: APIKey "revoked" is revoked (Revoked), so the verifier refuses this key's assertions.`)
}

// healthNamespace creates a namespace of a fixed name, labelled so that
// this test's KeyPolicies select only their own.
func healthNamespace(g *WithT, name string) string {
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"argocd-health": name}}}
	g.Expect(client.IgnoreAlreadyExists(k8s.Create(context.Background(), nsObj))).To(Succeed())
	return name
}

// createForThisRun creates obj and, when the test ends, deletes it and
// waits until it is gone (the manager removes its finalizers), so that
// the next run can create it again under the same name. The namespaces
// stay: envtest runs no namespace controller, so a deleted namespace
// would never go, and they are created only if missing.
func createForThisRun(t *testing.T, g *WithT, obj client.Object) {
	t.Helper()
	g.Expect(k8s.Create(context.Background(), obj)).To(Succeed())
	t.Cleanup(func() {
		g := NewWithT(t)
		g.Expect(client.IgnoreNotFound(k8s.Delete(context.Background(), obj))).To(Succeed())
		g.Eventually(func() error {
			return k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		}).WithTimeout(waitFor).Should(Satisfy(apierrors.IsNotFound), "%T %s/%s is not gone", obj, obj.GetNamespace(), obj.GetName())
	})
}

func createAPIKey(t *testing.T, g *WithT, ns, name string, spec keywardv1.APIKeySpec) {
	createForThisRun(t, g, &keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec})
}

func createKeyPolicy(t *testing.T, g *WithT, ns string, enforcement keywardv1.EnforcementMode) {
	p := &keywardv1.KeyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "argocd-health-" + enforcementName(enforcement)},
		Spec: keywardv1.KeyPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"argocd-health": ns}},
			AllowedScopes:     []keywardv1.Scope{"acme/payments/*:read"},
			Enforcement:       enforcement,
		},
	}
	createForThisRun(t, g, p)
}

// enforcementName is the mode as a KeyPolicy name may spell it.
func enforcementName(m keywardv1.EnforcementMode) string {
	if m == keywardv1.EnforcementSuspend {
		return "suspend"
	}
	return "report"
}

func createIssuer(t *testing.T, g *WithT, ns, name string) {
	sk := &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeIssuer, Issuer: &keywardv1.IssuerKey{}},
	}
	createForThisRun(t, g, sk)
}

func createClientKey(t *testing.T, g *WithT, ns, name, apiKeyName string) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	g.Expect(err).NotTo(HaveOccurred())
	sk := &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeClient, Owner: "15a6",
			Client: &keywardv1.ClientKey{APIKeyName: apiKeyName, PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}},
	}
	createForThisRun(t, g, sk)
}

// setVerifierAvailableReplicas writes the verifier Deployment's status as
// the Deployment controller, which envtest does not run, would.
func setVerifierAvailableReplicas(g *WithT, n int32) {
	g.Eventually(func(g Gomega) {
		dep := &appsv1.Deployment{}
		g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: verifierNamespace, Name: controllers.VerifierName}, dep)).To(Succeed())
		dep.Status = appsv1.DeploymentStatus{
			ObservedGeneration: dep.Generation,
			Replicas:           n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
		}
		g.Expect(k8s.Status().Update(context.Background(), dep)).To(Succeed())
	}).WithTimeout(waitFor).Should(Succeed())
}

// expectHealth waits until the health script of kind says want (and each
// fragment) of the live object, captured under the object's name.
func expectHealth(t *testing.T, kind, ns, name string, want argocdhealth.Code, fragments ...string) {
	t.Helper()
	expectHealthAs(t, kind, ns, name, name, want, fragments...)
}

// expectHealthAs is expectHealth with the capture named after the state
// rather than the object.
func expectHealthAs(t *testing.T, kind, ns, name, capture string, want argocdhealth.Code, fragments ...string) {
	t.Helper()
	t.Run(kind+"/"+capture, func(t *testing.T) {
		g := NewWithT(t)
		obj, got := waitForHealth(g, kind, ns, name, want, fragments...)
		t.Logf("%s × live %s/%s: %s: %s", kind, ns, name, got.Status, got.Message)
		if os.Getenv(updateArgoCDTestdata) == "1" {
			g.Expect(writeCapture(kind, "captured-"+capture+".yaml", obj, got)).To(Succeed())
		}
	})
}

// waitForHealth waits until the health script of kind says want (and
// each fragment) of the live object, and returns the object and its
// health.
func waitForHealth(g *WithT, kind, ns, name string, want argocdhealth.Code, fragments ...string) (map[string]any, argocdhealth.Status) {
	script, err := argocd.HealthScript(kind)
	g.Expect(err).NotTo(HaveOccurred())
	var obj map[string]any
	var got argocdhealth.Status
	g.Eventually(func(g Gomega) {
		// Argo CD judges the object as its cluster cache holds it:
		// unstructured, numbers as int64.
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(keywardv1.GroupVersion.WithKind(kind))
		g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u)).To(Succeed())
		got, err = argocdhealth.Evaluate(script, u.Object)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got.Status).To(Equal(want), got.Message)
		for _, f := range fragments {
			g.Expect(got.Message).To(ContainSubstring(f))
		}
		obj = u.Object
	}).WithTimeout(waitFor).Should(Succeed())
	return obj, got
}

// writeCapture stores a live object as testdata, without the fields that
// only name one API server's copy, and records its health as a case.
func writeCapture(kind, file string, obj map[string]any, health argocdhealth.Status) error {
	obj = stripServerFields(obj)
	b, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	dir := filepath.Join(argocdDir, argocd.KindDir(kind))
	if err := os.WriteFile(filepath.Join(dir, "testdata", file), b, 0o644); err != nil {
		return err
	}
	tests, err := argocd.ReadHealthTests(dir)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	tests.Set("testdata/"+file, health)
	return argocd.WriteHealthTests(dir, tests)
}

func stripServerFields(obj map[string]any) map[string]any {
	u := &unstructured.Unstructured{Object: obj}
	u = u.DeepCopy()
	u.SetManagedFields(nil)
	u.SetUID("")
	u.SetResourceVersion("")
	return u.Object
}

// TestTheArgoCDPatchKeepsWhatArgoCDsConfigMapHolds patches an argocd-cm as
// `kubectl patch --patch-file` does (a strategic merge patch): the
// scripts arrive verbatim and the settings already there stay.
func TestTheArgoCDPatchKeepsWhatArgoCDsConfigMapHolds(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	g.Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}))).To(Succeed())
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "argocd-cm"},
		Data:       map[string]string{"url": "https://argocd.example.com", "resource.customizations.health.cert-manager.io_Certificate": "return {status = \"Healthy\"}\n"},
	}
	createForThisRun(t, g, cm)

	patch, err := os.ReadFile(filepath.Join(argocdDir, argocd.PatchFile))
	g.Expect(err).NotTo(HaveOccurred())
	patchJSON, err := yaml.YAMLToJSON(patch)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8s.Patch(ctx, cm, client.RawPatch(types.StrategicMergePatchType, patchJSON))).To(Succeed())

	got := &corev1.ConfigMap{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), got)).To(Succeed())
	g.Expect(got.Data).To(HaveKeyWithValue("url", "https://argocd.example.com"))
	g.Expect(got.Data).To(HaveKey("resource.customizations.health.cert-manager.io_Certificate"))
	for _, kind := range argocd.Kinds {
		script, err := argocd.HealthScript(kind)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got.Data).To(HaveKeyWithValue(argocd.ConfigMapKey(kind), script))
	}
	g.Expect(got.Data).To(HaveLen(2 + len(argocd.Kinds)))
}
