package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/keyspec"
)

// RecordSecretType marks key record Secrets.
const RecordSecretType corev1.SecretType = "keyward.dev/key-record"

// publishedRecord is a record as found in the verifier namespace. record
// is zero when the Secret's content does not decode.
type publishedRecord struct {
	secret  *corev1.Secret
	record  record.Record
	decoded bool
}

// belongsTo reports whether the record is bound to key. Only keyward writes
// in the verifier namespace, so its label is trusted; a decoded record
// must name the same UID, and one that names none was written before
// records did (the label then decides).
func (p *publishedRecord) belongsTo(key *keywardv1.APIKey) bool {
	if p.secret.Labels[record.APIKeyUIDLabel] != string(key.UID) {
		return false
	}
	return !p.decoded || p.record.APIKey.UID == "" || p.record.APIKey.UID == string(key.UID)
}

// loadRecord finds the key's record: under the key ID status names or, if
// status was lost, by the APIKey's UID. Key IDs come from nowhere else.
// A revoked record keeps the key revoked, whatever the spec says now.
func (r *APIKeyReconciler) loadRecord(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	var rec *publishedRecord
	var err error
	if id := s.key.Status.KeyID; id != "" {
		if rec, err = r.recordOf(ctx, id, false); err != nil {
			return ctrl.Result{}, err
		}
	}
	if rec == nil {
		if rec, err = r.recordByUID(ctx, s.key); err != nil {
			return ctrl.Result{}, err
		}
	}
	if rec != nil && !rec.belongsTo(s.key) {
		// Status names a key ID whose record another APIKey holds. Only
		// the manager writes status and key IDs are bound at creation, so
		// this is damage: touch nothing.
		msg := fmt.Sprintf("Key ID %s is bound to another APIKey; keyward does not touch its record. Delete and re-create this APIKey.", s.key.Status.KeyID)
		s.setCondition(keywardv1.PublishedCondition, metav1.ConditionFalse, keywardv1.KeyIDConflictReason, msg)
		s.fail(keywardv1.KeyIDConflictReason, msg)
		return ctrl.Result{}, nil
	}
	s.rec = rec
	if rec == nil {
		return ctrl.Result{}, nil
	}
	s.key.Status.KeyID = rec.secret.Labels[record.KeyIDLabel]
	if !rec.decoded {
		return ctrl.Result{}, nil
	}
	want := rec.record.Clone()
	s.want = &want
	s.key.Status.KeyID = want.KeyID
	if want.State == record.Revoked && s.state != record.Revoked {
		s.revokeBy(keywardv1.RevokedReason, "The key was revoked and stays revoked; create a new APIKey instead.")
		if want.RevokedAt != nil {
			s.key.Status.RevokedTime = &metav1.Time{Time: *want.RevokedAt}
		}
	}
	return ctrl.Result{}, nil
}

// recordByUID finds a record bound to key when status has lost its key ID.
// A live record wins over a tombstone: the tombstones are of key IDs the
// key had before.
func (r *APIKeyReconciler) recordByUID(ctx context.Context, key *keywardv1.APIKey) (*publishedRecord, error) {
	list := &corev1.SecretList{}
	if err := r.Client.List(ctx, list, client.InNamespace(r.VerifierNamespace),
		client.MatchingLabels{record.RecordLabel: "true", record.APIKeyUIDLabel: string(key.UID)}); err != nil {
		return nil, err
	}
	var found *publishedRecord
	for i := range list.Items {
		p := decodeRecord(&list.Items[i])
		if found == nil || (found.record.State == record.Revoked && p.record.State != record.Revoked) {
			found = p
		}
	}
	return found, nil
}

// recordOf reads a key's record, from the cache or, when live, from the API
// server; a miss in the cache is confirmed live.
func (r *APIKeyReconciler) recordOf(ctx context.Context, keyID string, live bool) (*publishedRecord, error) {
	sec, err := r.secret(ctx, client.ObjectKey{Namespace: r.VerifierNamespace, Name: record.SecretName(keyID)}, live)
	if sec == nil || err != nil {
		return nil, err
	}
	return decodeRecord(sec), nil
}

func decodeRecord(sec *corev1.Secret) *publishedRecord {
	rec, err := record.Decode(sec.Data[record.DataKey])
	return &publishedRecord{secret: sec, record: rec, decoded: err == nil}
}

// saveRecord writes s.want when it differs from what is published. The
// first write of a key ID is a create, so a key ID already taken is never
// taken over; every later one is conditional on the resourceVersion read,
// and only ever of a record bound to this APIKey.
func (r *APIKeyReconciler) saveRecord(ctx context.Context, s *apiKeyState) error {
	want := s.want
	want.Schema, want.APIKey = record.Schema, apiKeyRef(s.key)
	record.SortSecrets(want.Secrets)
	if s.rec != nil && s.rec.decoded && record.SameContent(s.rec.record, *want) {
		s.recordVersion = s.rec.record.Version
		return nil
	}
	want.Version = 1
	if s.rec != nil && s.rec.decoded {
		want.Version = s.rec.record.Version + 1
	}
	data, err := record.Encode(*want)
	if err != nil {
		return err
	}
	labels := map[string]string{
		ManagedByLabel:        ManagedByValue,
		record.RecordLabel:    "true",
		record.KeyIDLabel:     want.KeyID,
		record.APIKeyUIDLabel: string(s.key.UID),
	}
	if id := importedLookupID(s); id != "" {
		labels[record.LookupIDLabel] = id
	}
	annotations := map[string]string{record.APIKeyAnnotation: s.key.Namespace + "/" + s.key.Name}
	var written *corev1.Secret
	if s.rec == nil {
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: r.VerifierNamespace, Name: record.SecretName(want.KeyID), Labels: labels, Annotations: annotations},
			Type:       RecordSecretType,
			Data:       map[string][]byte{record.DataKey: data},
		}
		if err := r.Client.Create(ctx, sec, client.FieldOwner(FieldOwner)); err != nil {
			return err
		}
		written = sec
	} else {
		if !s.rec.belongsTo(s.key) {
			return fmt.Errorf("record %s is bound to another APIKey; not writing it", s.rec.secret.Name)
		}
		apply := corev1ac.Secret(s.rec.secret.Name, r.VerifierNamespace).
			WithType(RecordSecretType).WithLabels(labels).WithAnnotations(annotations).
			WithData(map[string][]byte{record.DataKey: data}).
			WithResourceVersion(s.rec.secret.ResourceVersion)
		if err := r.Client.Apply(ctx, apply, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return err
		}
		if written, err = appliedSecret(apply); err != nil {
			return err
		}
	}
	recordWritesTotal.Inc()
	// A copy: s.want goes on changing in this reconcile (a reveal, a
	// promotion), and each change must differ from what was published.
	s.rec = &publishedRecord{secret: written, record: want.Clone(), decoded: true}
	s.recordWritten, s.recordVersion = true, want.Version
	return nil
}

// publishRecord brings the record's content (state, scopes, conditions,
// expiry, limits) in line with the spec and drops a previous secret whose
// grace period ended. The secrets themselves change only in the phases
// that issue and rotate them.
func (r *APIKeyReconciler) publishRecord(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	if s.want == nil {
		// Revoked, expired or suspended before a secret was ever issued:
		// nothing exists that the verifier could be asked about.
		return ctrl.Result{}, nil
	}
	conds, ok := recordAccessConditions(s)
	if !ok {
		return ctrl.Result{}, nil
	}
	w := s.want
	w.Owner, w.Scopes, w.Conditions, w.ExpiresAt = s.key.Spec.Owner, s.scopes, conds, s.expiresAt
	w.RateLimit, w.AuthMethods = keyspec.RecordRateLimit(s.key), nil
	for _, m := range s.key.Spec.AuthMethods {
		w.AuthMethods = append(w.AuthMethods, string(m))
	}
	w.ClientCertificate = keyspec.ClientCertificate(s.key)
	switch {
	case s.state == record.Revoked:
		revokedAt := s.key.Status.RevokedTime.UTC()
		w.State, w.Secrets, w.Ledger, w.RevokedAt = record.Revoked, nil, revocationLedger(w.Ledger), &revokedAt
		if !s.now.Before(revokedAt.Add(r.TombstoneRetention)) {
			// The tombstone has served its retention; the janitor removes
			// it and it is not written again. A record that is still not a
			// tombstone must not outlive the revocation: it goes now.
			if s.rec != nil && s.rec.record.State != record.Revoked {
				sec := s.rec.secret
				if err := r.Client.Delete(ctx, sec, client.Preconditions{UID: &sec.UID}); client.IgnoreNotFound(err) != nil {
					return ctrl.Result{}, err
				}
			}
			return ctrl.Result{}, nil
		}
	case s.state == record.Expired:
		w.State, w.Secrets, w.Ledger = record.Expired, nil, nil
	case w.State == record.Issuing && len(w.Secrets) == 0:
		// Still on its way: issueSecret moves it on.
	default:
		w.State = s.state
		dropEndedGrace(w, s.now)
		if s.state == record.Active && len(w.Secrets) == 0 {
			return ctrl.Result{}, fmt.Errorf("no valid secret to publish for key %s; retrying", w.KeyID)
		}
	}
	if err := r.saveRecord(ctx, s); err != nil {
		msg := "Writing the key record failed: " + err.Error()
		s.setCondition(keywardv1.PublishedCondition, metav1.ConditionFalse, keywardv1.PublishFailedReason, msg)
		s.fail(keywardv1.PublishFailedReason, msg)
		return ctrl.Result{}, err
	}
	s.setCondition(keywardv1.PublishedCondition, metav1.ConditionTrue, keywardv1.RecordPublishedReason,
		fmt.Sprintf("Key record %s/%s is current.", r.VerifierNamespace, record.SecretName(w.KeyID)))
	return ctrl.Result{}, r.removeStaleRecords(ctx, s.key, w.KeyID)
}

// dropEndedGrace removes the previous secret once its grace period is over.
func dropEndedGrace(w *record.Record, now time.Time) {
	l := w.Ledger
	if l == nil || l.Previous == "" {
		return
	}
	prev, ok := w.BySerial(l.Previous)
	if ok && prev.NotAfter != nil && now.Before(*prev.NotAfter) {
		return
	}
	w.Secrets = slices.DeleteFunc(w.Secrets, func(sec record.Secret) bool { return sec.Serial == l.Previous })
	l.Previous = ""
}

// recordAccessConditions are the conditions the record carries. Conditions the
// verifier could not read (the webhook normally refuses them) stop an
// active key's record from being written: the last valid record stays, and
// a key never published stays unusable. A suspended, revoked or expired
// key is denied whatever its conditions say, so its record goes out
// without them rather than not at all.
func recordAccessConditions(s *apiKeyState) (access.Conditions, bool) {
	conds := keyspec.AccessConditions(s.key)
	_, err := access.Compile(conds)
	switch {
	case err == nil:
		return conds, true
	case s.state != record.Active:
		return access.Conditions{}, true
	}
	msg := "The key record is not published: spec.conditions cannot be enforced: " + err.Error() + "."
	s.setCondition(keywardv1.PublishedCondition, metav1.ConditionFalse, keywardv1.InvalidSpecReason, msg)
	s.fail(keywardv1.InvalidSpecReason, msg)
	return access.Conditions{}, false
}

// removeStaleRecords deletes records bound to this APIKey under another
// key ID (written before status kept its key ID), so that no key outlives
// the one the APIKey now describes.
func (r *APIKeyReconciler) removeStaleRecords(ctx context.Context, key *keywardv1.APIKey, keyID string) error {
	list := &corev1.SecretList{}
	if err := r.Client.List(ctx, list, client.InNamespace(r.VerifierNamespace),
		client.MatchingLabels{record.RecordLabel: "true", record.APIKeyUIDLabel: string(key.UID)}); err != nil {
		return err
	}
	for i := range list.Items {
		sec := &list.Items[i]
		if sec.Labels[record.KeyIDLabel] == keyID {
			continue
		}
		if err := r.Client.Delete(ctx, sec, client.Preconditions{UID: &sec.UID}); client.IgnoreNotFound(err) != nil {
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

// appliedSecret is the Secret the API server returned for an apply: the
// client decodes the response into the apply configuration.
func appliedSecret(apply *corev1ac.SecretApplyConfiguration) (*corev1.Secret, error) {
	b, err := json.Marshal(apply)
	if err != nil {
		return nil, err
	}
	sec := &corev1.Secret{}
	return sec, json.Unmarshal(b, sec)
}
