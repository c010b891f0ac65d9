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
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
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
	if s.state == record.Revoked || s.state == record.Expired {
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
	if sec != nil && s.adopt(sec) {
		return ctrl.Result{}, nil
	}
	// What the cache shows is missing or damaged. Ask the API server before
	// minting: the cache may simply not have seen our own last write.
	if sec, err = r.deliverySecret(ctx, s.key, true); err != nil {
		return ctrl.Result{}, err
	}
	if sec != nil && metav1.IsControlledBy(sec, s.key) && s.adopt(sec) {
		return ctrl.Result{}, nil
	}
	if s.state == record.Suspended {
		// Nothing to deliver while suspended; resuming issues the key.
		return ctrl.Result{}, nil
	}
	var resourceVersion string
	if sec != nil {
		resourceVersion = sec.ResourceVersion
	}
	return ctrl.Result{}, r.mint(ctx, s, resourceVersion)
}

// adopt takes the keys from an owned delivery Secret if its current key is
// intact and belongs to this key ID.
func (s *keyScope) adopt(sec *corev1.Secret) bool {
	d, ok := parseDelivered(sec, s.key.Status.KeyID)
	if !ok {
		return false
	}
	s.delivered = d
	s.key.Status.KeyID = d.current.key.ID()
	s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionTrue, keywardv1.SecretWrittenReason,
		fmt.Sprintf("Secret %q holds the key under %q.", sec.Name, DeliveryKeyField))
	return true
}

// mint generates the first secret (or a replacement for a lost one), hashes
// it, and stores it in the delivery Secret. The hash is published only
// afterwards (publishRecord), so a key whose hash the verifier accepts
// always has its plaintext delivered.
func (r *APIKeyReconciler) mint(ctx context.Context, s *keyScope, resourceVersion string) error {
	dk, err := r.newSecret(ctx, s, s.key.Status.KeyID)
	if err != nil {
		return err
	}
	// A reissued secret continues the count, so status shows it changed.
	dk.generation = s.key.Status.SecretGeneration + 1
	trigger, annotation := s.key.RotationRequest()
	d := &delivered{current: dk, handledTrigger: trigger, handledAnnotation: annotation, resourceVersion: resourceVersion}
	if err := r.writeDelivery(ctx, s, d); err != nil {
		return err
	}
	s.reissued = s.key.Status.KeyID != ""
	s.minted = true
	s.key.Status.KeyID = dk.key.ID()
	s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionTrue, keywardv1.SecretWrittenReason,
		fmt.Sprintf("Secret %q holds the key under %q.", s.key.DeliverySecretName(), DeliveryKeyField))
	reason := "created"
	if s.reissued {
		reason = "reissued"
	}
	keysIssuedTotal.WithLabelValues(reason).Inc()
	log.FromContext(ctx).Info("issued a secret", "keyID", dk.key.ID(), "reason", reason)
	return nil
}

// newSecret generates and hashes a secret; the hash waits in the scope
// until the plaintext is stored.
func (r *APIKeyReconciler) newSecret(ctx context.Context, s *keyScope, keyID string) (deliveredKey, error) {
	k, err := keys.Generate(keyID)
	if err != nil {
		return deliveredKey{}, err
	}
	serial, err := newSerial()
	if err != nil {
		return deliveredKey{}, err
	}
	phc, err := r.Hashes.Hash(ctx, k)
	if err != nil {
		return deliveredKey{}, fmt.Errorf("hashing a new secret: %w", err)
	}
	s.hashes[serial] = phc
	return deliveredKey{key: k, serial: serial, issuedAt: s.now, generation: 1}, nil
}

// writeDelivery stores d and makes it the scope's view of the Secret.
func (r *APIKeyReconciler) writeDelivery(ctx context.Context, s *keyScope, d *delivered) error {
	if err := r.Client.Apply(ctx, d.applyConfig(s.key), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		msg := "Writing the delivery Secret failed: " + err.Error()
		s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionFalse, keywardv1.DeliveryFailedReason, msg)
		s.fail(keywardv1.DeliveryFailedReason, msg)
		return err
	}
	d.resourceVersion = ""
	s.delivered = d
	// The next write must be based on what the API server now holds.
	s.deliveryStale = true
	return nil
}

// freshDelivery returns a copy of the delivery Secret to change and write.
// live reads it from the API server, for decisions that must not rest on
// the cache (a rotation, a hash); otherwise the cached copy serves, since
// its resourceVersion makes a write based on stale data fail. A Secret
// this reconcile already wrote is always read again.
func (r *APIKeyReconciler) freshDelivery(ctx context.Context, s *keyScope, live bool) (*delivered, error) {
	if !live && !s.deliveryStale && s.delivered.resourceVersion != "" {
		return s.delivered.copy(), nil
	}
	sec, err := r.deliverySecret(ctx, s.key, true)
	if err != nil {
		return nil, err
	}
	if sec == nil || !metav1.IsControlledBy(sec, s.key) {
		return nil, fmt.Errorf("delivery Secret %q disappeared; retrying", s.key.DeliverySecretName())
	}
	d, ok := parseDelivered(sec, s.key.Status.KeyID)
	if !ok {
		return nil, fmt.Errorf("delivery Secret %q changed; retrying", s.key.DeliverySecretName())
	}
	s.delivered, s.deliveryStale = d, false
	return d.copy(), nil
}

// deliverySecret returns the delivery Secret or nil.
func (r *APIKeyReconciler) deliverySecret(ctx context.Context, key *keywardv1.APIKey, live bool) (*corev1.Secret, error) {
	return r.secret(ctx, client.ObjectKey{Namespace: key.Namespace, Name: key.DeliverySecretName()}, live)
}

// secret reads a Secret, or returns nil when there is none. The cache holds
// only Secrets keyward labelled, so a miss there is confirmed against the
// API server; live skips the cache altogether.
func (r *APIKeyReconciler) secret(ctx context.Context, name client.ObjectKey, live bool) (*corev1.Secret, error) {
	reader := client.Reader(r.Client)
	if live {
		reader = r.APIReader
	}
	sec := &corev1.Secret{}
	err := reader.Get(ctx, name, sec)
	switch {
	case apierrors.IsNotFound(err) && !live:
		return r.secret(ctx, name, true)
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return sec, nil
}

func newSerial() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}
