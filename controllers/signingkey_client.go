package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/signingrecord"
)

// publishClientKey publishes an enrolled public key for the key ID of the
// APIKey it is linked to, and passes an eviction request on to the
// verifier as a new eviction marker in the record. The key is bound to
// the APIKey's UID when first published and never follows another APIKey
// of the same name.
func (r *SigningKeyReconciler) publishClientKey(ctx context.Context, s *signingKeyState) (ctrl.Result, error) {
	spec := s.key.Spec.Client
	kid, alg, jwk, err := signingrecord.ParsePublicKey(spec.PublicKey)
	if err != nil {
		s.fail(keywardv1.InvalidPublicKeyReason, "spec.client.publicKey cannot be used: "+err.Error()+".")
		return ctrl.Result{}, nil
	}
	apiKey := &keywardv1.APIKey{}
	err = r.Client.Get(ctx, client.ObjectKey{Namespace: s.key.Namespace, Name: spec.APIKeyName}, apiKey)
	switch {
	case apierrors.IsNotFound(err):
		s.fail(keywardv1.APIKeyNotReadyReason, fmt.Sprintf("APIKey %q does not exist in this namespace.", spec.APIKeyName))
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	case apiKey.Status.KeyID == "":
		s.fail(keywardv1.APIKeyNotReadyReason, fmt.Sprintf("APIKey %q has no key ID yet.", spec.APIKeyName))
		return ctrl.Result{}, nil
	case apiKey.Spec.Owner != s.key.Spec.Owner:
		s.fail(keywardv1.OwnerMismatchReason, fmt.Sprintf("spec.owner %q is not the owner of APIKey %q.", s.key.Spec.Owner, spec.APIKeyName))
		return ctrl.Result{}, nil
	}
	bound := r.boundAPIKey(s, kid)
	if bound != "" && bound != string(apiKey.UID) {
		s.fail(keywardv1.APIKeyReplacedReason, fmt.Sprintf(
			"APIKey %q was deleted and created again; this key was enrolled for the APIKey that was deleted (UID %s) and does not follow the new one (UID %s). "+
				"Delete this SigningKey and enrol the key again for the new APIKey.", spec.APIKeyName, bound, apiKey.UID))
		return ctrl.Result{}, nil
	}
	st := &s.key.Status
	eviction, evictEvent := st.Eviction, ""
	switch evict := s.key.EvictionRequest(); {
	case st.Eviction == "":
		// The request present at enrollment evicts nothing: there is no
		// state yet.
		eviction = evict
	case st.Eviction != evict:
		eviction, evictEvent = evict, keywardv1.EvictedReason
	}
	rec := signingrecord.Record{
		Schema: signingrecord.Schema, KID: kid, Mode: signingrecord.Client, Algorithm: alg, PublicJWK: jwk,
		KeyID: apiKey.Status.KeyID, Owner: s.key.Spec.Owner, APIKeyUID: string(apiKey.UID), Eviction: eviction,
	}
	if err := r.writeSigningSecret(ctx, s, rec, nil, nil); errors.As(err, new(*kidInUseError)) {
		s.fail(keywardv1.KidInUseReason, err.Error()+": a kid belongs to one SigningKey cluster-wide. Enrol another key pair.")
		return ctrl.Result{}, nil
	} else if err != nil {
		return ctrl.Result{}, err
	}
	// Status follows what was published, never what could not be.
	if st.Eviction == "" {
		s.event(corev1.EventTypeNormal, keywardv1.EnrolledReason, "Enroll",
			fmt.Sprintf("Enrolled %s key %s for key ID %s.", alg, kid, apiKey.Status.KeyID))
	}
	if evictEvent != "" {
		st.LastEvictionTime = &metav1.Time{Time: s.now}
		s.event(corev1.EventTypeNormal, keywardv1.EvictedReason, "Evict",
			"The verifier forgets this key's assertion replay cache and clock-skew state.")
	}
	st.KID, st.Algorithm, st.KeyID, st.APIKeyUID, st.Eviction = kid, keywardv1.SigningAlgorithm(alg), apiKey.Status.KeyID, string(apiKey.UID), eviction
	for other, sec := range s.secrets {
		if other != kid {
			if err := r.Client.Delete(ctx, sec, client.Preconditions{UID: &sec.UID}); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, err
			}
		}
	}
	s.setCondition(keywardv1.PublishedCondition, metav1.ConditionTrue, keywardv1.RecordPublishedReason,
		"Key "+kid+" is published to the verifier for key ID "+apiKey.Status.KeyID+".")
	// The record stays published so that a resumed key works again at
	// once and evictions still reach the verifier; but the key cannot be
	// used while its APIKey is not, and Ready must not say otherwise.
	if state, why := apiKeyRefused(apiKey); state != "" {
		s.fail(keywardv1.APIKeyNotReadyReason, fmt.Sprintf("APIKey %q is %s (%s), so the verifier refuses this key's assertions.", spec.APIKeyName, state, why))
	}
	return ctrl.Result{}, nil
}

// apiKeyRefused names the state of an APIKey whose credentials the
// verifier refuses, with the reason of its Ready condition, or returns ""
// for one it accepts. Only those states count (revoked, expired,
// suspended by spec, parent or policy): a failed delivery leaves the
// published record, and with it the key, working.
func apiKeyRefused(apiKey *keywardv1.APIKey) (state, reason string) {
	ready := conditionOf(apiKey.Status.Conditions, keywardv1.ReadyCondition)
	if ready == nil || ready.Status != metav1.ConditionFalse {
		return "", ""
	}
	switch ready.Reason {
	case keywardv1.RevokedReason, keywardv1.ParentRevokedReason, keywardv1.ParentReplacedReason:
		return "revoked", ready.Reason
	case keywardv1.ExpiredReason:
		return "expired", ready.Reason
	case keywardv1.SuspendedReason, keywardv1.ParentSuspendedReason, keywardv1.PolicyViolatedReason:
		return "suspended", ready.Reason
	}
	return "", ""
}

// boundAPIKey is the UID of the APIKey this client key was first
// published for, "" before that. Both places that hold it are keyward's
// own: the status and the record in the verifier namespace, which is
// written before the status and so is the one that counts when they
// disagree.
func (r *SigningKeyReconciler) boundAPIKey(s *signingKeyState, kid string) string {
	if sec := s.secrets[kid]; sec != nil {
		if rec, err := signingrecord.Decode(sec.Data[signingrecord.DataKey]); err == nil {
			return rec.APIKeyUID
		}
	}
	return s.key.Status.APIKeyUID
}
