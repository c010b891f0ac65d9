package integration

import (
	"context"
	"fmt"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/diff"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// What Argo CD writes to, and reads from, the API server when it syncs an
// Application with server-side apply and compares it with server-side diff.
const (
	// argoCDFieldManager is the field manager of Argo CD's application
	// controller.
	argoCDFieldManager = "argocd-controller"
	// argoCDInstanceLabel and argoCDTrackingAnnotation are what tracking
	// method annotation+label puts on every resource of an Application:
	// the annotation says which Application owns it, the label is for
	// tools that only know the label.
	argoCDInstanceLabel      = "app.kubernetes.io/instance"
	argoCDTrackingAnnotation = "argocd.argoproj.io/tracking-id"
)

// argoApp is an Application: its name and destination namespace.
type argoApp struct{ name, namespace string }

// render is the manifest Argo CD sends for one object from Git: placed
// in the destination namespace when the kind is namespaced, with the
// tracking label and annotation added and nothing else changed.
func (a argoApp) render(g Gomega, manifest *unstructured.Unstructured) *unstructured.Unstructured {
	u := manifest.DeepCopy()
	namespaced, err := k8s.IsObjectNamespaced(u)
	g.Expect(err).NotTo(HaveOccurred())
	if namespaced && u.GetNamespace() == "" {
		u.SetNamespace(a.namespace)
	}
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[argoCDInstanceLabel] = a.name
	u.SetLabels(labels)
	annotations := u.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	gvk := u.GroupVersionKind()
	// <app>:<group>/<Kind>:<namespace>/<name>, the namespace empty for a
	// cluster-scoped object, as Argo CD builds it.
	annotations[argoCDTrackingAnnotation] = fmt.Sprintf("%s:%s/%s:%s/%s", a.name, gvk.Group, gvk.Kind, u.GetNamespace(), u.GetName())
	u.SetAnnotations(annotations)
	return u
}

// sync applies the manifests as a sync with ServerSideApply=true does:
// server-side apply as argocd-controller, taking over conflicting fields.
func (a argoApp) sync(ctx context.Context, g Gomega, manifests []*unstructured.Unstructured) {
	for _, m := range manifests {
		g.Expect(k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(m.DeepCopy()),
			client.FieldOwner(argoCDFieldManager), client.ForceOwnership)).To(Succeed(), "syncing %s %s", m.GetKind(), m.GetName())
	}
}

// predict is what server-side diff asks the API server: the object as it
// would be after applying the manifest, computed by a dry run that goes
// through defaulting, admission and field management but stores nothing.
func (a argoApp) predict(ctx context.Context, manifest *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	u := manifest.DeepCopy()
	err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(argoCDFieldManager), client.ForceOwnership, client.DryRunAll)
	return u, err
}

// drift is the outcome of a server-side diff of one manifest, each part a
// unified diff of JSON (empty when there is no difference).
type drift struct {
	// userFields compares, on the fields the manifest sets, the live
	// object with the predicted one: what Argo CD's diff view shows.
	userFields string
	// git compares, on the same fields, the manifest with the live
	// object: whatever changed a value Git sets (a controller writing
	// spec, a label it overwrote) shows here even if a new apply would
	// change it back.
	git string
	// object compares the whole live object with the predicted one: a
	// dry run must change nothing at all. Nothing is left out, not even
	// resourceVersion, generation or managedFields: on an apply that
	// changes no field the API server keeps the object as it is,
	// managedFields timestamps included, so any difference there is a
	// change (a field argocd-controller would take back from keyward, a
	// spec change that bumps the generation).
	object string
}

func (d drift) empty() bool { return d.userFields == "" && d.git == "" && d.object == "" }

// serverSideDiff predicts the manifest's object and diffs it against the
// live one. The live object is read before and after the dry run, and the
// pair is taken again if the manager wrote in between (a status update),
// so that the diff compares one live state with the prediction made from
// it.
func (a argoApp) serverSideDiff(ctx context.Context, g Gomega, manifest *unstructured.Unstructured) drift {
	var live, predicted *unstructured.Unstructured
	g.Eventually(func(g Gomega) {
		before, after := &unstructured.Unstructured{}, &unstructured.Unstructured{}
		before.SetGroupVersionKind(manifest.GroupVersionKind())
		after.SetGroupVersionKind(manifest.GroupVersionKind())
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(manifest), before)).To(Succeed())
		p, err := a.predict(ctx, manifest)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(manifest), after)).To(Succeed())
		g.Expect(after.GetResourceVersion()).To(Equal(before.GetResourceVersion()), "the live object changed during the dry run")
		live, predicted = after, p
	}).WithTimeout(waitFor).Should(Succeed())
	return drift{
		userFields: diff.Diff(onFieldsOf(live.Object, manifest.Object), onFieldsOf(predicted.Object, manifest.Object)),
		git:        diff.Diff(manifest.Object, onFieldsOf(live.Object, manifest.Object)),
		object:     diff.Diff(live.Object, predicted.Object),
	}
}

// onFieldsOf is obj cut down to the fields shape sets: the keys of each
// map in shape, and lists element by element when they are as long as
// shape's (a list of another length differs anyway and is kept whole).
// What the API server added inside a value (a defaulted field) is left
// out, as Argo CD leaves out fields the manifest does not set.
func onFieldsOf(obj, shape any) any {
	switch s := shape.(type) {
	case map[string]any:
		o, ok := obj.(map[string]any)
		if !ok {
			return obj
		}
		out := map[string]any{}
		for k, sv := range s {
			if ov, ok := o[k]; ok {
				out[k] = onFieldsOf(ov, sv)
			}
		}
		return out
	case []any:
		o, ok := obj.([]any)
		if !ok || len(o) != len(s) {
			return obj
		}
		out := make([]any, len(o))
		for i := range o {
			out[i] = onFieldsOf(o[i], s[i])
		}
		return out
	}
	return obj
}

// userMarks are the label and annotation keys the manifests set: what
// must never reach an object keyward generates.
func userMarks(manifests []*unstructured.Unstructured) (labels, annotations map[string]bool) {
	labels, annotations = map[string]bool{}, map[string]bool{}
	for _, m := range manifests {
		for k := range m.GetLabels() {
			labels[k] = true
		}
		for k := range m.GetAnnotations() {
			annotations[k] = true
		}
	}
	return labels, annotations
}
