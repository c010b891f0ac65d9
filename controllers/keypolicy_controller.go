package controllers

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/keyspec"
)

// KeyPolicyReconciler reports, on each KeyPolicy, how many keys it governs
// and how many it does not allow. The keys themselves are re-evaluated by
// the APIKey reconciler, which watches policies.
type KeyPolicyReconciler struct {
	Client client.Client
}

// +kubebuilder:rbac:groups=keyward.dev,resources=keypolicies/status,verbs=patch

// Reconcile counts the keys a policy selects and those it flags.
func (r *KeyPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &keywardv1.KeyPolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	original := p.DeepCopy()
	cond := metav1.Condition{Type: keywardv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: keywardv1.PolicyReadyReason,
		ObservedGeneration: p.Generation, Message: "The policy applies to every APIKey in the namespaces it selects."}
	selected, violating, err := r.count(ctx, p)
	if err != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, keywardv1.InvalidSpecReason, err.Error()
	} else {
		p.Status.SelectedKeys, p.Status.ViolatingKeys = selected, violating
		p.Status.ObservedGeneration = p.Generation
	}
	meta.SetStatusCondition(&p.Status.Conditions, cond)
	if equality.Semantic.DeepEqual(original.Status, p.Status) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, r.Client.Status().Patch(ctx, p, client.MergeFrom(original), client.FieldOwner(FieldOwner))
}

func (r *KeyPolicyReconciler) count(ctx context.Context, p *keywardv1.KeyPolicy) (selected, violating int32, err error) {
	if _, err := keyspec.Rules(p); err != nil {
		return 0, 0, err
	}
	namespaces := &corev1.NamespaceList{}
	if err := r.Client.List(ctx, namespaces); err != nil {
		return 0, 0, err
	}
	for _, ns := range namespaces.Items {
		if ok, err := p.Selects(ns.Labels); err != nil || !ok {
			continue
		}
		keys := &keywardv1.APIKeyList{}
		if err := r.Client.List(ctx, keys, client.InNamespace(ns.Name)); err != nil {
			return 0, 0, err
		}
		for _, k := range keys.Items {
			selected++
			if slices.Contains(k.Status.ViolatedPolicies, p.Name) {
				violating++
			}
		}
	}
	return selected, violating, nil
}

// SetupWithManager recounts every policy when a key is created or deleted,
// or when the policies it violates change; the many other status updates
// of a key (rotation, delivery, quota) change no count.
func (r *KeyPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&keywardv1.KeyPolicy{}).
		Watches(&keywardv1.APIKey{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			list := &keywardv1.KeyPolicyList{}
			if err := r.Client.List(ctx, list); err != nil {
				return nil
			}
			out := make([]reconcile.Request, len(list.Items))
			for i := range list.Items {
				out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}
			}
			return out
		}), builder.WithPredicates(violationsChanged{})).
		Named("keypolicy").
		Complete(r)
}

// violationsChanged lets through every APIKey event but updates that leave
// status.violatedPolicies as it was. A key's namespace never changes, so
// creations and deletions are all that move the selected counts.
type violationsChanged struct {
	predicate.Funcs
}

func (violationsChanged) Update(e event.UpdateEvent) bool {
	before, okBefore := e.ObjectOld.(*keywardv1.APIKey)
	after, okAfter := e.ObjectNew.(*keywardv1.APIKey)
	if !okBefore || !okAfter {
		return true
	}
	return !slices.Equal(before.Status.ViolatedPolicies, after.Status.ViolatedPolicies)
}
