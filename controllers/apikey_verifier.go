package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// reportVerifier says on the key whether the verifier that enforces it is
// available, because tools that judge an APIKey by its own status (Argo
// CD) never look at the verifier's Deployment. It runs for keys in every
// state and never stops the phases after it.
func (r *APIKeyReconciler) reportVerifier(_ context.Context, s *apiKeyState) (ctrl.Result, error) {
	if r.Verifier == nil {
		// Whatever runs the verifier instead, the manager cannot see it;
		// a condition left from an earlier configuration would go stale.
		meta.RemoveStatusCondition(&s.key.Status.Conditions, keywardv1.VerifierAvailableCondition)
		return ctrl.Result{}, nil
	}
	state, known := r.Verifier.Get()
	if !known {
		// The deployer's first observation wakes every key.
		return ctrl.Result{}, nil
	}
	s.setCondition(keywardv1.VerifierAvailableCondition, state.conditionStatus(), state.Reason, state.Message)
	return ctrl.Result{}, nil
}

// announceVerifier emits an Event when the verifier's availability flips
// between True and False. A key that starts out with the verifier
// unavailable gets the condition but no Event: nothing changed for it.
func (r *APIKeyReconciler) announceVerifier(s *apiKeyState) {
	before := s.condition(s.original, keywardv1.VerifierAvailableCondition)
	after := s.condition(s.key, keywardv1.VerifierAvailableCondition)
	if before == nil || after == nil || before.Status == after.Status {
		return
	}
	eventType := corev1.EventTypeWarning
	if after.Status == metav1.ConditionTrue {
		eventType = corev1.EventTypeNormal
	}
	r.Recorder.Eventf(s.key, nil, eventType, after.Reason, "Observe", "%s", after.Message)
}
