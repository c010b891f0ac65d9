package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/conditions"
	"github.com/keyward-dev/keyward/internal/record"
)

// RecordSecretType marks key record Secrets.
const RecordSecretType corev1.SecretType = "keyward.dev/key-record"

// publishedRecord is a record as found in the verifier namespace.
type publishedRecord struct {
	secret *corev1.Secret
	record record.Record
}

// publishRecord writes the key record the verifier enforces, and writes
// nothing when the record already says what the spec and the delivery
// Secret ask for.
func (r *APIKeyReconciler) publishRecord(ctx context.Context, s *keyScope) (ctrl.Result, error) {
	keyID := s.key.Status.KeyID
	if keyID == "" {
		// Revoked or expired before a secret was ever issued: nothing exists
		// that the verifier could be asked about.
		return ctrl.Result{}, nil
	}
	conds, ok := recordConditions(s)
	if !ok {
		return ctrl.Result{}, nil
	}
	existing, err := r.recordOf(ctx, keyID, false)
	if err != nil {
		return ctrl.Result{}, err
	}
	desired := record.Record{
		Schema:     record.Schema,
		KeyID:      keyID,
		APIKey:     apiKeyRef(s.key),
		Owner:      s.key.Spec.Owner,
		State:      s.state,
		Scopes:     s.scopes,
		Conditions: conds,
		ExpiresAt:  s.expiresAt,
		RateLimit:  s.key.RecordRateLimit(),
	}
	for _, m := range s.key.Spec.AuthMethods {
		desired.AuthMethods = append(desired.AuthMethods, string(m))
	}
	if s.state == record.Revoked {
		desired.RevokedAt = &s.key.Status.RevokedTime.Time
		if !s.now.Before(desired.RevokedAt.Add(r.TombstoneRetention)) {
			// The tombstone has served its retention; the janitor removes
			// it and it is not written again. A record that is still not a
			// tombstone (a retention shorter than the time to get here)
			// must not outlive the revocation: it goes now.
			if existing != nil && existing.record.State != record.Revoked {
				sec := existing.secret
				if err := r.Client.Delete(ctx, sec, client.Preconditions{UID: &sec.UID}); client.IgnoreNotFound(err) != nil {
					return ctrl.Result{}, err
				}
			}
			return ctrl.Result{}, nil
		}
	}
	if s.delivered != nil && (s.state == record.Active || s.state == record.Suspended) {
		if desired.Secrets, existing, err = r.recordSecrets(ctx, s, existing); err != nil {
			return ctrl.Result{}, err
		}
		if s.state == record.Active && len(desired.Secrets) == 0 {
			return ctrl.Result{}, fmt.Errorf("no valid secret to publish for key %s; retrying", keyID)
		}
	}
	for _, sec := range desired.Secrets {
		s.published[sec.Serial] = true
	}
	published := fmt.Sprintf("Key record %s/%s is current.", r.VerifierNamespace, record.SecretName(keyID))
	if existing != nil && record.SameContent(existing.record, desired) {
		s.recordVersion = existing.record.Version
		s.setCondition(keywardv1.PublishedCondition, metav1.ConditionTrue, keywardv1.RecordPublishedReason, published)
		return ctrl.Result{}, r.removeStaleRecords(ctx, s.key, keyID)
	}
	desired.Version = 1
	if existing != nil {
		desired.Version = existing.record.Version + 1
	}
	if err := r.writeRecord(ctx, s.key, desired, existing); err != nil {
		msg := "Writing the key record failed: " + err.Error()
		s.setCondition(keywardv1.PublishedCondition, metav1.ConditionFalse, keywardv1.PublishFailedReason, msg)
		s.fail(keywardv1.PublishFailedReason, msg)
		return ctrl.Result{}, err
	}
	s.recordWritten, s.recordVersion = true, desired.Version
	s.setCondition(keywardv1.PublishedCondition, metav1.ConditionTrue, keywardv1.RecordPublishedReason, published)
	return ctrl.Result{}, r.removeStaleRecords(ctx, s.key, keyID)
}

// recordConditions are the conditions the record carries. Conditions the
// verifier could not read (the webhook normally refuses them) stop an
// active key's record from being written: the last valid record stays, and
// a key never published stays unusable. A suspended, revoked or expired
// key is denied whatever its conditions say, so its record goes out
// without them rather than not at all.
func recordConditions(s *keyScope) (conditions.Conditions, bool) {
	conds := s.key.AccessConditions()
	_, err := conditions.Compile(conds)
	switch {
	case err == nil:
		return conds, true
	case s.state != record.Active:
		return conditions.Conditions{}, true
	}
	msg := "The key record is not published: spec.conditions cannot be enforced: " + err.Error() + "."
	s.setCondition(keywardv1.PublishedCondition, metav1.ConditionFalse, keywardv1.InvalidSpecReason, msg)
	s.fail(keywardv1.InvalidSpecReason, msg)
	return conditions.Conditions{}, false
}

// recordSecrets lists the secrets that verify now, oldest first: the
// previous one while its grace runs, the current one, and a stored new one. Hashes come from this
// reconcile or from the published record by serial; PBKDF2 runs only for a
// delivered key the API server confirms is not published.
func (r *APIKeyReconciler) recordSecrets(ctx context.Context, s *keyScope, existing *publishedRecord) ([]record.Secret, *publishedRecord, error) {
	list, missing := r.wantedSecrets(s, existing)
	if len(missing) > 0 {
		// Confirm before paying for PBKDF2: the cache may lag behind.
		live, err := r.recordOf(ctx, s.key.Status.KeyID, true)
		if err != nil {
			return nil, nil, err
		}
		if _, err := r.freshDelivery(ctx, s, true); err != nil {
			return nil, nil, err
		}
		existing = live
		_, missing = r.wantedSecrets(s, existing)
		for _, dk := range missing {
			phc, err := r.Hashes.Hash(ctx, dk.key)
			if err != nil {
				return nil, nil, fmt.Errorf("hashing a delivered secret: %w", err)
			}
			s.hashes[dk.serial] = phc
		}
		list, _ = r.wantedSecrets(s, existing)
	}
	return list, existing, nil
}

func (r *APIKeyReconciler) wantedSecrets(s *keyScope, existing *publishedRecord) ([]record.Secret, []deliveredKey) {
	d := s.delivered
	var list []record.Secret
	var missing []deliveredKey
	add := func(dk deliveredKey, notAfter *time.Time) {
		phc, ok := s.hashes[dk.serial]
		if !ok && existing != nil {
			var sec record.Secret
			if sec, ok = existing.record.BySerial(dk.serial); ok {
				phc = sec.Hash
			}
		}
		if !ok {
			missing = append(missing, dk)
			return
		}
		list = append(list, record.Secret{Serial: dk.serial, Hash: phc, NotBefore: dk.issuedAt, NotAfter: notAfter})
	}
	if d.previous != nil && s.now.Before(d.previousValidUntil) {
		until := d.previousValidUntil
		add(*d.previous, &until)
	}
	add(d.current, nil)
	if d.next != nil {
		add(*d.next, nil)
	}
	record.SortSecrets(list)
	return list, missing
}

// recordOf reads a key's record, from the cache or, when live, from the API
// server. A record that does not decode is treated as absent so it gets
// rewritten whole.
func (r *APIKeyReconciler) recordOf(ctx context.Context, keyID string, live bool) (*publishedRecord, error) {
	sec, err := r.secret(ctx, client.ObjectKey{Namespace: r.VerifierNamespace, Name: record.SecretName(keyID)}, live)
	if sec == nil || err != nil {
		return nil, err
	}
	rec, err := record.Decode(sec.Data[record.DataKey])
	if err != nil {
		return &publishedRecord{secret: sec}, nil
	}
	return &publishedRecord{secret: sec, record: rec}, nil
}

func (r *APIKeyReconciler) writeRecord(ctx context.Context, key *keywardv1.APIKey, rec record.Record, existing *publishedRecord) error {
	data, err := record.Encode(rec)
	if err != nil {
		return err
	}
	apply := corev1ac.Secret(record.SecretName(rec.KeyID), r.VerifierNamespace).
		WithType(RecordSecretType).
		WithLabels(map[string]string{
			ManagedByLabel:        ManagedByValue,
			record.RecordLabel:    "true",
			record.KeyIDLabel:     rec.KeyID,
			record.APIKeyUIDLabel: string(key.UID),
		}).
		WithAnnotations(map[string]string{record.APIKeyAnnotation: key.Namespace + "/" + key.Name}).
		WithData(map[string][]byte{record.DataKey: data})
	if existing != nil {
		// Versions must only grow: a write based on a stale read fails here
		// and is retried on fresh data.
		apply.WithResourceVersion(existing.secret.ResourceVersion)
	}
	if err := r.Client.Apply(ctx, apply, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return err
	}
	recordWritesTotal.Inc()
	return nil
}

// removeStaleRecords deletes records this APIKey published under another
// key ID (its status was lost and a new key ID issued), so that no key
// outlives the one the APIKey now describes.
func (r *APIKeyReconciler) removeStaleRecords(ctx context.Context, key *keywardv1.APIKey, keyID string) error {
	list := &corev1.SecretList{}
	if err := r.Client.List(ctx, list, client.InNamespace(r.VerifierNamespace),
		client.MatchingLabels{record.RecordLabel: "true", record.APIKeyUIDLabel: string(key.UID)}); err != nil {
		return err
	}
	for i := range list.Items {
		if list.Items[i].Labels[record.KeyIDLabel] == keyID {
			continue
		}
		if err := r.Client.Delete(ctx, &list.Items[i]); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// apiKeyOfRecord maps a record Secret to the APIKey that published it.
func apiKeyOfRecord(_ context.Context, o client.Object) []reconcile.Request {
	ns, name, ok := splitNamespacedName(o.GetAnnotations()[record.APIKeyAnnotation])
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}}}
}

func splitNamespacedName(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return "", "", false
}

// apiKeyRef binds a record to its APIKey.
func apiKeyRef(key *keywardv1.APIKey) record.APIKeyRef {
	return record.APIKeyRef{UID: string(key.UID), Namespace: key.Namespace, Name: key.Name}
}
