package controllers

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// recordTransitions emits one Event per transition of this reconcile and
// none when nothing changed, so a resync never floods `kubectl describe`.
func (r *APIKeyReconciler) recordTransitions(s *keyScope) {
	key := s.key
	before := s.condition(s.original, keywardv1.ReadyCondition)
	after := s.condition(key, keywardv1.ReadyCondition)
	readyChanged := after != nil && (before == nil || before.Reason != after.Reason)

	switch {
	case s.minted && s.reissued:
		r.Recorder.Eventf(key, nil, corev1.EventTypeWarning, keywardv1.SecretReissuedReason, "Issue",
			"Delivery Secret %s was missing or damaged: issued a new secret for key %s/%s. The previous secret no longer verifies.",
			key.DeliverySecretName(), key.Spec.Owner, key.Status.KeyID)
	case s.minted:
		r.Recorder.Eventf(key, nil, corev1.EventTypeNormal, keywardv1.CreatedReason, "Issue",
			"Issued key %s/%s, delivered to Secret %s.", key.Spec.Owner, key.Status.KeyID, key.DeliverySecretName())
	case s.recordWritten && !readyChanged:
		r.Recorder.Eventf(key, nil, corev1.EventTypeNormal, keywardv1.UpdatedReason, "Publish",
			"Published key record version %d.", s.recordVersion)
	}

	if !readyChanged || after.Status == metav1.ConditionTrue {
		return
	}
	eventType := corev1.EventTypeWarning
	if after.Reason == keywardv1.RevokedReason {
		eventType = corev1.EventTypeNormal
	}
	r.Recorder.Eventf(key, nil, eventType, after.Reason, "Reconcile", "%s", after.Message)
}
