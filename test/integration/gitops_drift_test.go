package integration

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// TestArgoCDSeesNoDriftAcrossAKeysLifecycle syncs the samples as Argo CD
// does, lets the manager create, rotate and suspend the keys, each step a
// commit to Git synced the same way, and after each step runs Argo CD's
// server-side diff: nothing the manager did may show as drift, and what
// it generated must appear as the keys' children, not as the
// Application's own resources.
//
// The namespace is "default": the sample policy selects namespaces by
// kubernetes.io/metadata.name, which the API server sets to the
// namespace's name on every namespace, so "default" is the only one it
// selects as written; the samples are taken unchanged.
func TestArgoCDSeesNoDriftAcrossAKeysLifecycle(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	app := argoApp{name: "keyward-samples", namespace: "default"}
	samples, err := testutil.Samples()
	g.Expect(err).NotTo(HaveOccurred())
	var git, keys []*unstructured.Unstructured
	for _, s := range samples {
		m := app.render(g, s)
		git = append(git, m)
		if m.GetKind() == "APIKey" {
			keys = append(keys, m)
		}
	}
	g.Expect(keys).NotTo(BeEmpty())
	t.Cleanup(func() { prune(t, git) })

	app.sync(ctx, g, git)
	eachKeySettles(ctx, g, keys, func(g Gomega, k *keywardv1.APIKey) {
		g.Expect(meta.IsStatusConditionTrue(k.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue(), "Ready: %v", k.Status.Conditions)
	})
	policy := git[0]
	g.Expect(policy.GetKind()).To(Equal("KeyPolicy"))
	g.Eventually(func(g Gomega) {
		var p keywardv1.KeyPolicy
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(policy), &p)).To(Succeed())
		g.Expect(p.Status.SelectedKeys).To(BeEquivalentTo(len(keys)), "the sample policy governs the sample keys")
	}).WithTimeout(waitFor).Should(Succeed())
	expectNoDrift(ctx, t, g, app, git, "created")

	// Rotation on demand from Git: a new value of spec.rotation.trigger.
	generations := map[string]int64{}
	for _, m := range keys {
		generations[m.GetName()] = apiKey(ctx, g, m).Status.SecretGeneration
		g.Expect(unstructured.SetNestedField(m.Object, "2026-12-06", "spec", "rotation", "trigger")).To(Succeed())
	}
	app.sync(ctx, g, git)
	eachKeySettles(ctx, g, keys, func(g Gomega, k *keywardv1.APIKey) {
		g.Expect(k.Status.SecretGeneration).To(Equal(generations[k.Name]+1), "rotated once")
		g.Expect(k.Status.LastRotationTime).NotTo(BeNil())
		g.Expect(meta.IsStatusConditionTrue(k.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue(), "Ready: %v", k.Status.Conditions)
	})
	expectNoDrift(ctx, t, g, app, git, "rotated")

	for _, m := range keys {
		g.Expect(unstructured.SetNestedField(m.Object, true, "spec", "suspended")).To(Succeed())
	}
	app.sync(ctx, g, git)
	eachKeySettles(ctx, g, keys, func(g Gomega, k *keywardv1.APIKey) {
		ready := meta.FindStatusCondition(k.Status.Conditions, keywardv1.ReadyCondition)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(keywardv1.SuspendedReason))
	})
	expectNoDrift(ctx, t, g, app, git, "suspended")

	expectGeneratedObjectsAreChildren(ctx, g, git, keys)
}

// expectNoDrift runs the server-side diff of every manifest and logs it,
// so that `go test -v` shows each diff, empty or not.
func expectNoDrift(ctx context.Context, t *testing.T, g *WithT, app argoApp, git []*unstructured.Unstructured, step string) {
	t.Helper()
	for _, m := range git {
		d := app.serverSideDiff(ctx, g, m)
		t.Logf("%s: server-side diff of %s %s: user's fields %s; Git against live %s; whole object %s",
			step, m.GetKind(), m.GetName(), shown(d.userFields), shown(d.git), shown(d.object))
		g.Expect(d.empty()).To(BeTrue(), "%s: %s %s drifted:\nuser's fields:\n%s\nGit against live:\n%s\nwhole object:\n%s",
			step, m.GetKind(), m.GetName(), d.userFields, d.git, d.object)
	}
}

func shown(diff string) string {
	if diff == "" {
		return "(empty)"
	}
	return "\n" + diff
}

// apiKey reads the live APIKey of a manifest.
func apiKey(ctx context.Context, g Gomega, m *unstructured.Unstructured) *keywardv1.APIKey {
	k := &keywardv1.APIKey{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(m), k)).To(Succeed())
	return k
}

// eachKeySettles waits until the manager has reconciled each key's
// latest spec to a status that passes check.
func eachKeySettles(ctx context.Context, g *WithT, keys []*unstructured.Unstructured, check func(Gomega, *keywardv1.APIKey)) {
	for _, m := range keys {
		g.Eventually(func(g Gomega) {
			k := apiKey(ctx, g, m)
			g.Expect(k.Status.ObservedGeneration).To(Equal(k.Generation), "the manager has seen the latest spec of %s", k.Name)
			check(g, k)
		}).WithTimeout(waitFor).Should(Succeed(), "APIKey %s", m.GetName())
	}
}

// expectGeneratedObjectsAreChildren checks what the manager wrote for the
// keys. In the keys' namespace it is each key's delivery Secret, which
// must name its APIKey as controller, so that Argo CD shows it as the
// key's child (and leaves it out of pruning and of the Application's own
// resources). The key records live in the verifier's namespace, and an
// ownerReference cannot cross namespaces (the garbage collector treats
// one as pointing at an absent owner and deletes the dependent), so a
// record names its APIKey by labels and an annotation instead, and the
// APIKey's finalizer deletes it. Neither, nor anything else the manager
// or the verifier wrote, may carry a label or annotation of the user's:
// Argo CD would then count it as a resource of the Application, out of
// sync with Git and due for pruning.
func expectGeneratedObjectsAreChildren(ctx context.Context, g *WithT, git, keys []*unstructured.Unstructured) {
	labels, annotations := userMarks(git)
	g.Expect(labels).To(HaveKey(argoCDInstanceLabel))
	g.Expect(annotations).To(HaveKey(argoCDTrackingAnnotation))
	uids := map[types.UID]bool{}
	for _, m := range keys {
		k := apiKey(ctx, g, m)
		uids[k.UID] = true
		g.Expect(k.Finalizers).To(ContainElement(controllers.Finalizer))

		var delivery corev1.Secret
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.DeliverySecretName()}, &delivery)).To(Succeed())
		g.Expect(delivery.OwnerReferences).To(ConsistOf(metav1.OwnerReference{
			APIVersion: keywardv1.GroupVersion.String(), Kind: "APIKey", Name: k.Name, UID: k.UID,
			Controller: new(true), BlockOwnerDeletion: new(true),
		}), "delivery Secret %s", delivery.Name)

		var records corev1.SecretList
		g.Expect(k8s.List(ctx, &records, client.InNamespace(verifierNamespace),
			client.MatchingLabels{record.RecordLabel: "true", record.APIKeyUIDLabel: string(k.UID)})).To(Succeed())
		g.Expect(records.Items).To(HaveLen(1), "one record for %s", k.Name)
		rec := records.Items[0]
		g.Expect(rec.OwnerReferences).To(BeEmpty(), "record %s", rec.Name)
		g.Expect(rec.Labels).To(HaveKeyWithValue(record.KeyIDLabel, k.Status.KeyID))
		g.Expect(rec.Labels).To(HaveKeyWithValue(controllers.ManagedByLabel, controllers.ManagedByValue))
		g.Expect(rec.Annotations).To(HaveKeyWithValue(record.APIKeyAnnotation, k.Namespace+"/"+k.Name))
	}

	applied := map[schema.GroupVersionKind]bool{}
	for _, m := range git {
		applied[m.GroupVersionKind()] = true
	}
	swept := 0
	for _, gvk := range writtenKinds {
		g.Expect(applied).NotTo(HaveKey(gvk), "the manifests hold no %s", gvk.Kind)
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		g.Expect(k8s.List(ctx, list)).To(Succeed())
		for _, o := range list.Items {
			swept++
			for k := range o.Labels {
				g.Expect(labels).NotTo(HaveKey(k), "%s %s/%s carries the user's label %s", gvk.Kind, o.Namespace, o.Name, k)
			}
			for k := range o.Annotations {
				g.Expect(annotations).NotTo(HaveKey(k), "%s %s/%s carries the user's annotation %s", gvk.Kind, o.Namespace, o.Name, k)
			}
			if o.Namespace == keys[0].GetNamespace() && o.Labels[controllers.ManagedByLabel] == controllers.ManagedByValue {
				owner := metav1.GetControllerOf(&o)
				g.Expect(owner).NotTo(BeNil(), "%s %s/%s has no controller", gvk.Kind, o.Namespace, o.Name)
				g.Expect(uids).To(HaveKey(owner.UID), "%s %s/%s is controlled by a sample APIKey", gvk.Kind, o.Namespace, o.Name)
			}
		}
	}
	g.Expect(swept).To(BeNumerically(">", len(keys)), "the sweep saw the delivery Secrets and records")
}

// writtenKinds are the kinds the manager and the verifier write: delivery
// Secrets, key records and the verifier's certificates and usage reports,
// the verifier's workload and RBAC, and Events.
var writtenKinds = []schema.GroupVersionKind{
	corev1.SchemeGroupVersion.WithKind("Secret"),
	corev1.SchemeGroupVersion.WithKind("ConfigMap"),
	corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
	corev1.SchemeGroupVersion.WithKind("Service"),
	corev1.SchemeGroupVersion.WithKind("Event"),
	{Group: "events.k8s.io", Version: "v1", Kind: "Event"},
	{Group: "apps", Version: "v1", Kind: "Deployment"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"},
}

// prune deletes what the test synced, as Argo CD's prune would, and waits
// until the manager has let the keys go (their finalizer removes the
// records), so that a later test, or -count, starts from an empty
// namespace.
func prune(t *testing.T, git []*unstructured.Unstructured) {
	g := NewWithT(t)
	ctx := context.Background()
	for _, m := range git {
		g.Expect(client.IgnoreNotFound(k8s.Delete(ctx, m.DeepCopy()))).To(Succeed())
	}
	for _, m := range git {
		g.Eventually(func() bool {
			gone := &unstructured.Unstructured{}
			gone.SetGroupVersionKind(m.GroupVersionKind())
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(m), gone))
		}).WithTimeout(waitFor).Should(BeTrue(), "%s %s deleted", m.GetKind(), m.GetName())
	}
}
