package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyward-dev/keyward/internal/signingrecord"
)

// SigningKeySecretType marks signing-key Secrets.
const SigningKeySecretType corev1.SecretType = "keyward.dev/signing-key"

// writeSigningSecret applies a signing-key record, and writes nothing when
// the existing Secret already carries the same content. The private key,
// when there is one, travels only here: never in status, Events or logs.
func (r *SigningKeyReconciler) writeSigningSecret(ctx context.Context, s *signingScope, rec signingrecord.Record, privatePEM []byte, existing *corev1.Secret) error {
	if existing == nil {
		existing = s.secrets[rec.KID]
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
	apply := corev1ac.Secret(signingrecord.SecretName(rec.KID), r.VerifierNamespace).
		WithType(SigningKeySecretType).
		WithLabels(map[string]string{
			ManagedByLabel:                   ManagedByValue,
			signingrecord.Label:              "true",
			signingrecord.KIDLabel:           rec.KID,
			signingrecord.SigningKeyUIDLabel: string(s.key.UID),
		}).
		WithAnnotations(map[string]string{signingrecord.SigningKeyAnnotation: s.key.Namespace + "/" + s.key.Name}).
		WithData(payload)
	if existing != nil {
		apply.WithResourceVersion(existing.ResourceVersion)
	}
	if err := r.Client.Apply(ctx, apply, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return err
	}
	return nil
}
