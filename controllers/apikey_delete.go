package controllers

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/record"
)

// reconcileDelete revokes the key first: its record becomes a tombstone, so
// the verifier answers "revoked" from that moment (and, until the retention
// ends, rather than "unknown"). Then the plaintext goes, without waiting for
// the garbage collector, and only then the APIKey.
func (r *APIKeyReconciler) reconcileDelete(ctx context.Context, key *keywardv1.APIKey) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(key, Finalizer) {
		return ctrl.Result{}, nil
	}
	now := r.Clock.Now().UTC().Truncate(time.Second)
	if err := r.tombstone(ctx, key, now); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.removeStaleRecords(ctx, key, key.Status.KeyID); err != nil {
		return ctrl.Result{}, err
	}
	sec, err := r.deliverySecret(ctx, key, false)
	if err != nil {
		return ctrl.Result{}, err
	}
	if sec != nil && metav1.IsControlledBy(sec, key) {
		if err := r.Client.Delete(ctx, sec, client.Preconditions{UID: &sec.UID}); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, err
		}
	}
	s := newAPIKeyState(key, now)
	patch := client.MergeFrom(key.DeepCopy())
	controllerutil.RemoveFinalizer(key, Finalizer)
	if err := r.Client.Patch(ctx, key, patch, client.FieldOwner(FieldOwner)); err != nil {
		// Not found: a reconcile that ran on a stale copy finds the key
		// gone, and the one that removed the finalizer said so already.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// Said once the finalizer is gone, so that exactly one reconcile says
	// it; the admission line records who deleted the key in any case.
	r.emit(s, "Normal", keywardv1.DeletedReason, audit.Deleted, "Delete",
		fmt.Sprintf("Revoked key %s/%s and removed its delivery Secret; its record stays as a tombstone for %s.",
			key.Spec.Owner, key.Status.KeyID, r.TombstoneRetention))
	log.FromContext(ctx).Info("deleted key", "keyID", key.Status.KeyID)
	return ctrl.Result{}, nil
}

// tombstone rewrites a key's record as revoked, without secrets. Only a
// record bound to this APIKey is touched, found by the key ID status
// names or, when status lost it, by the APIKey's UID.
func (r *APIKeyReconciler) tombstone(ctx context.Context, key *keywardv1.APIKey, now time.Time) error {
	var existing *publishedRecord
	var err error
	if key.Status.KeyID != "" {
		if existing, err = r.recordOf(ctx, key.Status.KeyID, true); err != nil {
			return err
		}
	}
	if existing == nil || !existing.belongsTo(key) {
		if existing, err = r.recordByUID(ctx, key); err != nil || existing == nil {
			return err
		}
	}
	if existing.decoded && existing.record.State == record.Revoked {
		return nil
	}
	revokedAt := now
	if key.Status.RevokedTime != nil {
		revokedAt = key.Status.RevokedTime.UTC()
	}
	s := newAPIKeyState(key, now)
	s.rec = existing
	rec := existing.record
	if !existing.decoded {
		// The record did not decode; write a whole tombstone.
		rec = record.Record{KeyID: existing.secret.Labels[record.KeyIDLabel], Owner: key.Spec.Owner}
	}
	rec.State, rec.Secrets, rec.Ledger, rec.RevokedAt = record.Revoked, nil, nil, &revokedAt
	s.want = &rec
	return r.saveRecord(ctx, s)
}
