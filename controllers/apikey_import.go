package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/keyspec"
)

// importRetry is how soon a key whose import Secret does not exist yet
// looks again: that Secret carries no keyward label, so the manager's
// cache and watch never see it.
const importRetry = 10 * time.Second

// importKey takes over the key spec.import names, in place of mint: the
// same record, created only (a key ID that exists, live or a revoked
// key's tombstone, is never taken over), then the same delivery. It runs
// only while the APIKey has no record and status has not recorded an
// import: once consumed, spec.import is never read again.
func (r *APIKeyReconciler) importKey(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	if err := r.confirmNoRecord(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	imp := s.key.Spec.Import
	var (
		keyID, phc string
		plain      *keys.Key
		from       types.UID
	)
	if imp.SecretRef != nil {
		k, sec, res, ok, err := r.readImportSecret(ctx, s)
		if !ok || err != nil {
			return res, err
		}
		if k.IsForeign() {
			taken, err := r.lookupIDTaken(ctx, k)
			if err != nil {
				return ctrl.Result{}, err
			}
			if taken {
				// As for a key ID: no namespace, no APIKey, no key ID.
				r.refuseImport(s, fmt.Sprintf("the key in Secret %q is bound to an existing or revoked key; an import never takes over a key keyward knows. Import another key, or let keyward mint one.", imp.SecretRef.Name))
				return ctrl.Result{}, nil
			}
		}
		plain, keyID, from = &k, k.ID(), sec.UID
	} else {
		var err error
		if keyID, phc, err = keyspec.ImportedHash(imp); err != nil {
			r.refuseImport(s, err.Error()+".")
			return ctrl.Result{}, nil
		}
	}

	s.want = &record.Record{KeyID: keyID, Owner: s.key.Spec.Owner, State: record.Issuing,
		Ledger: &record.Ledger{ImportedFrom: string(from)}}
	l := s.want.Ledger
	l.HandledTrigger, l.HandledAnnotation = s.key.RotationRequest()
	var err error
	if plain != nil {
		s.imported = plain
		err = r.stage(ctx, s, record.StagedForKey, "imported")
		s.imported = nil
	} else {
		err = r.publishImportedHash(ctx, s, phc)
	}
	if apierrors.IsAlreadyExists(err) {
		// The message names no namespace and no APIKey: the key ID belongs
		// to someone, and that is all an importer learns.
		s.want, s.rec = nil, nil
		r.refuseImport(s, fmt.Sprintf("Key ID %s is bound to an existing or revoked key; an import never takes over a key ID keyward knows. Import a key with another key ID, or let keyward mint one.", keyID))
		return ctrl.Result{}, nil
	}
	if err != nil {
		s.want, s.rec = nil, nil
		return ctrl.Result{}, err
	}
	s.minted = true
	s.key.Status.KeyID = keyID
	s.key.Status.ImportedTime = &metav1.Time{Time: s.now}
	keysIssuedTotal.WithLabelValues("imported").Inc()
	log.FromContext(ctx).Info("imported a key", "keyID", keyID, "byHash", plain == nil, "foreignFormat", plain != nil && plain.IsForeign())
	if err := r.deliver(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	r.settleStaged(s)
	return ctrl.Result{}, nil
}

// readImportSecret reads the plaintext of spec.import.secretRef. Only a
// Secret of type keyward.dev/import is read: a delivery Secret (of this or
// another APIKey) or any other Secret is refused untouched.
func (r *APIKeyReconciler) readImportSecret(ctx context.Context, s *apiKeyState) (keys.Key, *corev1.Secret, ctrl.Result, bool, error) {
	ref := s.key.Spec.Import.SecretRef
	sec, err := r.secret(ctx, client.ObjectKey{Namespace: s.key.Namespace, Name: ref.Name}, true)
	if err != nil {
		return keys.Key{}, nil, ctrl.Result{}, false, err
	}
	if sec == nil {
		msg := fmt.Sprintf("Waiting for Secret %q of type %s, which spec.import.secretRef names.", ref.Name, keywardv1.ImportSecretType)
		s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionFalse, keywardv1.ImportPendingReason, msg)
		s.fail(keywardv1.ImportPendingReason, msg)
		return keys.Key{}, nil, ctrl.Result{RequeueAfter: importRetry}, false, nil
	}
	if sec.Type != keywardv1.ImportSecretType {
		r.refuseImport(s, fmt.Sprintf("Secret %q has type %q; spec.import.secretRef reads only Secrets of type %s, and never reads or deletes any other.", ref.Name, sec.Type, keywardv1.ImportSecretType))
		return keys.Key{}, nil, ctrl.Result{}, false, nil
	}
	field := ref.Key
	if field == "" {
		field = keywardv1.ImportSecretDefaultKey
	}
	data, ok := sec.Data[field]
	if !ok {
		r.refuseImport(s, fmt.Sprintf("Secret %q has no data key %q.", ref.Name, field))
		return keys.Key{}, nil, ctrl.Result{}, false, nil
	}
	k, err := keyspec.ImportedPlaintext(data)
	if err != nil {
		r.refuseImport(s, fmt.Sprintf("Secret %q, data key %q: %s.", ref.Name, field, err))
		return keys.Key{}, nil, ctrl.Result{}, false, nil
	}
	return k, sec, ctrl.Result{}, true, nil
}

// reimport picks the imported plaintext up again when a crash took it
// between staging and delivery: only from the import Secret with the UID
// the record names, and only if it still holds a key of the record's key
// ID. Otherwise the key gets a keyward-minted secret, as any key would.
func (r *APIKeyReconciler) reimport(ctx context.Context, s *apiKeyState) error {
	ref := s.key.Spec.Import
	if ref == nil || ref.SecretRef == nil || s.want.Ledger.ImportedFrom == "" {
		return nil
	}
	sec, err := r.secret(ctx, client.ObjectKey{Namespace: s.key.Namespace, Name: ref.SecretRef.Name}, true)
	if err != nil || sec == nil || string(sec.UID) != s.want.Ledger.ImportedFrom || sec.Type != keywardv1.ImportSecretType {
		return err
	}
	field := ref.SecretRef.Key
	if field == "" {
		field = keywardv1.ImportSecretDefaultKey
	}
	k, err := keys.ParseFor(s.want.KeyID, string(sec.Data[field]))
	if err != nil {
		return nil
	}
	if k.IsForeign() {
		// A foreign key names no key ID: it is the one imported if its
		// lookup ID is the one the record Secret was labelled with when
		// it was staged (the staged secret itself is gone by now).
		lk, err := r.lookupKey(ctx)
		if err != nil {
			return err
		}
		if id := importedLookupID(s); id == "" || lk.ID(k.Plaintext()) != id {
			return nil
		}
	}
	s.imported = &k
	return nil
}

// lookupIDTaken reports whether a record, live or a revoked key's
// tombstone, in any namespace, already holds the foreign key's lookup ID
// (the label outlives the secret). Read past the cache, like every check
// before an irreversible step.
func (r *APIKeyReconciler) lookupIDTaken(ctx context.Context, k keys.Key) (bool, error) {
	lk, err := r.lookupKey(ctx)
	if err != nil {
		return false, err
	}
	var list corev1.SecretList
	if err := r.APIReader.List(ctx, &list, client.InNamespace(r.VerifierNamespace), client.Limit(1),
		client.MatchingLabels{record.RecordLabel: "true", record.LookupIDLabel: lk.ID(k.Plaintext())}); err != nil {
		return false, fmt.Errorf("looking for records of the imported key: %w", err)
	}
	return len(list.Items) > 0, nil
}

// importedLookupID is the lookup ID of the foreign key a record was
// imported with, for the record Secret's label: kept from the Secret once
// written, so that it outlives the foreign secret and the key itself.
func importedLookupID(s *apiKeyState) string {
	if s.rec != nil && s.rec.secret != nil {
		if id := s.rec.secret.Labels[record.LookupIDLabel]; id != "" {
			return id
		}
	}
	for _, sec := range s.want.Secrets {
		if sec.LookupID != "" {
			return sec.LookupID
		}
	}
	if l := s.want.Ledger; l != nil && l.Staged != nil {
		return l.Staged.LookupID
	}
	return ""
}

// publishImportedHash creates the record with the imported hash as the
// current secret. There is no plaintext to deliver first, so it needs no
// staging: the record is valid from its first write. importKey runs for
// active keys only, like mint.
func (r *APIKeyReconciler) publishImportedHash(ctx context.Context, s *apiKeyState, phc string) error {
	serial, err := newSerial()
	if err != nil {
		return err
	}
	l := s.want.Ledger
	s.want.Secrets = []record.Secret{{Serial: serial, Hash: phc, NotBefore: s.now, HashOnly: true}}
	l.Current, l.Generation, l.Cause = serial, 1, "imported by hash"
	s.want.State = s.state
	return r.saveRecord(ctx, s)
}

// importedMessage is the Created Event of an imported key.
func importedMessage(key *keywardv1.APIKey, prefix string) string {
	if imp := key.Spec.Import; imp != nil && imp.SecretRef != nil {
		return fmt.Sprintf("Imported key %s from Secret %s, delivered to Secret %s.", prefix, imp.SecretRef.Name, key.DeliverySecretName())
	}
	return fmt.Sprintf("Imported key %s by hash; Secret %s holds its key ID only.", prefix, key.DeliverySecretName())
}

// refuseImport stops the key with a reason the importer can act on. No
// record exists, so nothing verifies.
func (r *APIKeyReconciler) refuseImport(s *apiKeyState, msg string) {
	msg = "spec.import refused: " + msg
	s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionFalse, keywardv1.ImportRefusedReason, msg)
	s.fail(keywardv1.ImportRefusedReason, msg)
}

// consumeImport deletes the import Secret once its plaintext is delivered
// and published, on the UID read: a Secret re-created under the name since
// is neither read nor deleted. The record then forgets the UID.
func (r *APIKeyReconciler) consumeImport(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	if s.want == nil || s.want.Ledger == nil || s.want.Ledger.ImportedFrom == "" || s.want.Ledger.Current == "" || s.want.State == record.Issuing {
		return ctrl.Result{}, nil
	}
	uid := types.UID(s.want.Ledger.ImportedFrom)
	if ref := s.key.Spec.Import; ref != nil && ref.SecretRef != nil {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.key.Namespace, Name: ref.SecretRef.Name}}
		err := r.Client.Delete(ctx, sec, client.Preconditions{UID: &uid})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return ctrl.Result{}, fmt.Errorf("deleting the consumed import Secret %q: %w", ref.SecretRef.Name, err)
		}
	}
	s.want.Ledger.ImportedFrom = ""
	if err := r.saveRecord(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionTrue, keywardv1.ImportedReason,
		fmt.Sprintf("The imported key is in Secret %q; the import Secret was consumed and deleted, and is never read again.", s.key.DeliverySecretName()))
	return ctrl.Result{}, nil
}
