package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyward-dev/keyward/internal/signingrecord"
)

// SigningKeySecretType marks signing-key Secrets.
const SigningKeySecretType corev1.SecretType = "keyward.dev/signing-key"

// kidInUseError: the Secret of a kid is bound to another SigningKey. A kid
// is the thumbprint of a public key, and public keys are public: anyone
// may enrol the issuer's, or another tenant's. The Secret is never
// written over.
type kidInUseError struct{ kid string }

func (e *kidInUseError) Error() string {
	return fmt.Sprintf("key %s is already published by another SigningKey", e.kid)
}

// boundTo reports whether a signing-key Secret belongs to the SigningKey
// with this UID. Only keyward writes in the verifier namespace, so the
// label is keyward's own word.
func boundTo(sec *corev1.Secret, uid string) bool {
	return sec.Labels[signingrecord.SigningKeyUIDLabel] == uid
}

// writeSigningSecret publishes a signing-key record, and writes nothing
// when the Secret already carries the same content. The first write of a
// kid creates its Secret and fails if one exists; later writes are
// conditional on the resourceVersion read and go only to a Secret bound to
// this SigningKey. The private key, when there is one, travels only here:
// never in status, Events or logs.
func (r *SigningKeyReconciler) writeSigningSecret(ctx context.Context, s *signingKeyState, rec signingrecord.Record, privatePEM []byte, existing *corev1.Secret) error {
	uid := string(s.key.UID)
	if existing == nil {
		existing = s.secrets[rec.KID]
	}
	if existing != nil && !boundTo(existing, uid) {
		return &kidInUseError{kid: rec.KID}
	}
	rec.Version = 1
	if existing != nil {
		if old, err := signingrecord.Decode(existing.Data[signingrecord.DataKey]); err == nil {
			if signingrecord.SameContent(old, rec) && string(existing.Data[signingrecord.PrivateKeyDataKey]) == string(privatePEM) {
				return nil
			}
			rec.Version = old.Version + 1
		}
	}
	data, err := signingrecord.Encode(rec)
	if err != nil {
		return err
	}
	payload := map[string][]byte{signingrecord.DataKey: data}
	if privatePEM != nil {
		payload[signingrecord.PrivateKeyDataKey] = privatePEM
	}
	name := signingrecord.SecretName(rec.KID)
	labels := map[string]string{
		ManagedByLabel:                   ManagedByValue,
		signingrecord.Label:              "true",
		signingrecord.KIDLabel:           rec.KID,
		signingrecord.SigningKeyUIDLabel: uid,
	}
	annotations := map[string]string{signingrecord.SigningKeyAnnotation: s.key.Namespace + "/" + s.key.Name}
	if existing == nil {
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: r.VerifierNamespace, Name: name, Labels: labels, Annotations: annotations},
			Type:       SigningKeySecretType, Data: payload,
		}
		err := r.Client.Create(ctx, sec, client.FieldOwner(FieldOwner))
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		// Either the cache has not seen a Secret of ours yet, or the kid
		// is another SigningKey's: only the API server can tell.
		live := &corev1.Secret{}
		if err := r.liveReader().Get(ctx, client.ObjectKey{Namespace: r.VerifierNamespace, Name: name}, live); err != nil {
			return err
		}
		if !boundTo(live, uid) {
			return &kidInUseError{kid: rec.KID}
		}
		return r.writeSigningSecret(ctx, s, rec, privatePEM, live)
	}
	// The resourceVersion makes the apply conditional: a Secret changed
	// since it was read (deleted and created by another SigningKey, say)
	// is not written over, and the next reconcile reads it again.
	apply := corev1ac.Secret(name, r.VerifierNamespace).
		WithType(SigningKeySecretType).
		WithLabels(labels).
		WithAnnotations(annotations).
		WithResourceVersion(existing.ResourceVersion).
		WithData(payload)
	return r.Client.Apply(ctx, apply, client.FieldOwner(FieldOwner), client.ForceOwnership)
}

// deleteSigningSecret removes a Secret of this SigningKey: by name, since
// the cache may not have seen it, but only if it is still bound to this
// SigningKey.
func (r *SigningKeyReconciler) deleteSigningSecret(ctx context.Context, s *signingKeyState, kid string) error {
	live := &corev1.Secret{}
	err := r.liveReader().Get(ctx, client.ObjectKey{Namespace: r.VerifierNamespace, Name: signingrecord.SecretName(kid)}, live)
	if err != nil || !boundTo(live, string(s.key.UID)) {
		return client.IgnoreNotFound(err)
	}
	err = r.Client.Delete(ctx, live, client.Preconditions{UID: &live.UID, ResourceVersion: &live.ResourceVersion})
	return client.IgnoreNotFound(err)
}

// liveReader reads from the API server when the reconciler has a way to.
func (r *SigningKeyReconciler) liveReader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}
