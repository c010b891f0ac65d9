package controllers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// The delivery Secret's layout: what a consumer mounts or reads.
const (
	// DeliveryKeyField holds the plaintext key.
	DeliveryKeyField = "key"
	// DeliveryKeyIDField holds the public key ID.
	DeliveryKeyIDField = "keyID"
	// SerialAnnotation pairs the delivered key with its hash in the record.
	SerialAnnotation = "keyward.dev/serial"
	// IssuedAtAnnotation is when the delivered secret was generated.
	IssuedAtAnnotation = "keyward.dev/issued-at"
	// DeliverySecretType marks delivery Secrets for people and tools.
	DeliverySecretType corev1.SecretType = "keyward.dev/api-key"
)

// conflictRetry is how soon a key whose Secret name is taken looks again;
// the foreign Secret is outside the cache, so no event would wake us.
const conflictRetry = time.Minute

// ensureSecret makes sure the delivery Secret holds a valid key for this
// APIKey, generating one when there is none. Deleting the delivery Secret
// by hand (or damaging its key) issues a new secret under the same key ID:
// the plaintext of the old one is gone, so it cannot be delivered again,
// and a key nobody can hold any more must not stay valid.
func (r *APIKeyReconciler) ensureSecret(ctx context.Context, s *keyScope) (ctrl.Result, error) {
	if s.state != record.Active {
		return ctrl.Result{}, nil
	}
	sec, err := r.deliverySecret(ctx, s.key, false)
	if err != nil {
		return ctrl.Result{}, err
	}
	if sec != nil && !metav1.IsControlledBy(sec, s.key) {
		msg := fmt.Sprintf("Secret %q already exists and does not belong to this APIKey; keyward never overwrites it. Delete it or set spec.delivery.secretName to another name.", sec.Name)
		s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionFalse, keywardv1.SecretConflictReason, msg)
		s.fail(keywardv1.SecretConflictReason, msg)
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	if sec != nil && s.adoptDelivered(sec) {
		return ctrl.Result{}, nil
	}
	// What the cache shows is missing or damaged. Ask the API server before
	// minting: the cache may simply not have seen our own last write.
	if sec, err = r.deliverySecret(ctx, s.key, true); err != nil {
		return ctrl.Result{}, err
	}
	if sec != nil && metav1.IsControlledBy(sec, s.key) && s.adoptDelivered(sec) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, r.mint(ctx, s, sec)
}

// adoptDelivered takes the key from an owned delivery Secret if it is
// intact and belongs to this key ID.
func (s *keyScope) adoptDelivered(sec *corev1.Secret) bool {
	k, err := keys.Parse(string(sec.Data[DeliveryKeyField]))
	if err != nil || (s.key.Status.KeyID != "" && k.ID() != s.key.Status.KeyID) {
		return false
	}
	serial := sec.Annotations[SerialAnnotation]
	issued, err := time.Parse(time.RFC3339, sec.Annotations[IssuedAtAnnotation])
	if serial == "" || err != nil {
		return false
	}
	s.delivered, s.serial, s.issuedAt = &k, serial, issued.UTC()
	s.key.Status.KeyID = k.ID()
	s.key.Status.IssuedTime = &metav1.Time{Time: s.issuedAt}
	s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionTrue, keywardv1.SecretWrittenReason,
		fmt.Sprintf("Secret %q holds the key under %q.", sec.Name, DeliveryKeyField))
	return true
}

// mint generates a secret, hashes it, and stores it in the delivery Secret.
// The hash is published only afterwards (publishRecord), so a key whose
// hash the verifier accepts always has its plaintext delivered.
func (r *APIKeyReconciler) mint(ctx context.Context, s *keyScope, existing *corev1.Secret) error {
	k, err := keys.Generate(s.key.Status.KeyID)
	if err != nil {
		return err
	}
	phc, err := r.Hashes.Hash(ctx, k)
	if err != nil {
		return fmt.Errorf("hashing the new secret: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	apply := deliveryApplyConfig(s.key, k, serial, s.now)
	if existing != nil {
		// Only our own damaged Secret gets here; the resourceVersion makes a
		// concurrent change fail instead of being overwritten.
		apply.WithResourceVersion(existing.ResourceVersion)
	}
	if err := r.Client.Apply(ctx, apply, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionFalse, keywardv1.DeliveryFailedReason,
			"Writing the delivery Secret failed: "+err.Error())
		s.fail(keywardv1.DeliveryFailedReason, "Writing the delivery Secret failed: "+err.Error())
		return err
	}
	s.reissued = s.key.Status.KeyID != ""
	s.minted = true
	s.delivered, s.serial, s.issuedAt, s.newHash = &k, serial, s.now, phc
	s.key.Status.KeyID = k.ID()
	s.key.Status.IssuedTime = &metav1.Time{Time: s.now}
	s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionTrue, keywardv1.SecretWrittenReason,
		fmt.Sprintf("Secret %q holds the key under %q.", s.key.DeliverySecretName(), DeliveryKeyField))
	reason := "created"
	if s.reissued {
		reason = "reissued"
	}
	keysIssuedTotal.WithLabelValues(reason).Inc()
	log.FromContext(ctx).Info("issued a secret", "keyID", k.ID(), "reason", reason)
	return nil
}

// deliverySecret returns the delivery Secret or nil. live reads the API
// server instead of the cache, which holds only Secrets keyward labelled.
func (r *APIKeyReconciler) deliverySecret(ctx context.Context, key *keywardv1.APIKey, live bool) (*corev1.Secret, error) {
	reader := client.Reader(r.Client)
	if live {
		reader = r.APIReader
	}
	sec := &corev1.Secret{}
	err := reader.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: key.DeliverySecretName()}, sec)
	switch {
	case apierrors.IsNotFound(err) && !live:
		return r.deliverySecret(ctx, key, true)
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return sec, nil
}

func deliveryApplyConfig(key *keywardv1.APIKey, k keys.Key, serial string, now time.Time) *corev1ac.SecretApplyConfiguration {
	return corev1ac.Secret(key.DeliverySecretName(), key.Namespace).
		WithType(DeliverySecretType).
		WithLabels(map[string]string{ManagedByLabel: ManagedByValue}).
		WithAnnotations(map[string]string{
			SerialAnnotation:   serial,
			IssuedAtAnnotation: now.Format(time.RFC3339),
		}).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(keywardv1.GroupVersion.String()).
			WithKind("APIKey").
			WithName(key.Name).
			WithUID(key.UID).
			WithController(true).
			WithBlockOwnerDeletion(true)).
		WithData(map[string][]byte{
			DeliveryKeyField:   []byte(k.Plaintext()),
			DeliveryKeyIDField: []byte(k.ID()),
		})
}

func newSerial() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}
