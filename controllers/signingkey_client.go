package controllers

import (
	"context"
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
// verifier as a new eviction marker in the record.
func (r *SigningKeyReconciler) publishClientKey(ctx context.Context, s *signingScope) (ctrl.Result, error) {
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
		s.fail(keywardv1.APIKeyNotReadyReason, "APIKey "+spec.APIKeyName+" does not exist in this namespace.")
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	case apiKey.Status.KeyID == "":
		s.fail(keywardv1.APIKeyNotReadyReason, "APIKey "+spec.APIKeyName+" has no key ID yet.")
		return ctrl.Result{}, nil
	case apiKey.Spec.Owner != s.key.Spec.Owner:
		s.fail(keywardv1.OwnerMismatchReason, fmt.Sprintf("spec.owner %q is not the owner of APIKey %s.", s.key.Spec.Owner, spec.APIKeyName))
		return ctrl.Result{}, nil
	}
	st := &s.key.Status
	st.KID, st.Algorithm, st.KeyID = kid, keywardv1.SigningAlgorithm(alg), apiKey.Status.KeyID
	evict := s.key.EvictionRequest()
	switch {
	case st.Eviction == "":
		// The request present at enrollment evicts nothing: there is no
		// state yet.
		st.Eviction = evict
		s.event(corev1.EventTypeNormal, keywardv1.EnrolledReason, "Enroll",
			fmt.Sprintf("Enrolled %s key %s for key ID %s.", alg, kid, apiKey.Status.KeyID))
	case st.Eviction != evict:
		st.Eviction = evict
		st.LastEvictionTime = &metav1.Time{Time: s.now}
		s.event(corev1.EventTypeNormal, keywardv1.EvictedReason, "Evict",
			"The verifier forgets this key's assertion replay cache and clock-skew state.")
	}
	rec := signingrecord.Record{
		Schema: signingrecord.Schema, KID: kid, Mode: signingrecord.Client, Algorithm: alg, PublicJWK: jwk,
		KeyID: apiKey.Status.KeyID, Owner: s.key.Spec.Owner, Eviction: st.Eviction,
	}
	if err := r.writeSigningSecret(ctx, s, rec, nil, nil); err != nil {
		return ctrl.Result{}, err
	}
	for other, sec := range s.secrets {
		if other != kid {
			if err := r.Client.Delete(ctx, sec, client.Preconditions{UID: &sec.UID}); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, err
			}
		}
	}
	s.setCondition(keywardv1.PublishedCondition, metav1.ConditionTrue, keywardv1.RecordPublishedReason,
		"Key "+kid+" is published to the verifier for key ID "+apiKey.Status.KeyID+".")
	return ctrl.Result{}, nil
}
