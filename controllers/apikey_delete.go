package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/record"
)

// reconcileDelete removes the record first, so the verifier denies the key
// from that moment, then the plaintext, without waiting for the garbage
// collector, and only then lets the APIKey go.
func (r *APIKeyReconciler) reconcileDelete(ctx context.Context, key *keywardv1.APIKey) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(key, Finalizer) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(r.VerifierNamespace),
		client.MatchingLabels{record.RecordLabel: "true", record.APIKeyUIDLabel: string(key.UID)}); err != nil {
		return ctrl.Result{}, err
	}
	sec, err := r.deliverySecret(ctx, key, false)
	if err != nil {
		return ctrl.Result{}, err
	}
	if sec != nil && metav1.IsControlledBy(sec, key) {
		if err := r.Client.Delete(ctx, sec, client.Preconditions{UID: &sec.UID}); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, err
		}
	}
	r.Recorder.Eventf(key, nil, corev1.EventTypeNormal, keywardv1.DeletedReason, "Delete",
		"Removed the key record and the delivery Secret; key %s no longer verifies.", key.Status.Prefix)
	log.FromContext(ctx).Info("deleted key", "keyID", key.Status.KeyID)

	patch := client.MergeFrom(key.DeepCopy())
	controllerutil.RemoveFinalizer(key, Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Client.Patch(ctx, key, patch, client.FieldOwner(FieldOwner)))
}
