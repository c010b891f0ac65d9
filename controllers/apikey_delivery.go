package controllers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
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

// errStale stops a reconcile that read an older record than the API server
// holds: nothing is hashed or written from a stale view. The watch brings
// the newer version.
var errStale = errors.New("the cached key record is older than the API server's; retrying")

// readDelivery reads the delivery Secret and finds in it, by fingerprint,
// the plaintexts of the secrets the record lists. Nothing else is taken
// from it: what it says about serials, times or key IDs is ignored.
func (r *APIKeyReconciler) readDelivery(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
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
	s.delivery = sec
	if s.want == nil || s.want.Ledger == nil {
		return ctrl.Result{}, nil
	}
	fp, err := r.fingerprinter(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	if s.match(fp); s.missing(fp) {
		// The cache may not have seen our own last write: ask the API
		// server before concluding that anything was lost.
		if s.delivery, err = r.deliverySecret(ctx, s.key, true); err != nil {
			return ctrl.Result{}, err
		}
		if s.delivery != nil && !metav1.IsControlledBy(s.delivery, s.key) {
			return ctrl.Result{}, fmt.Errorf("delivery Secret %q changed owner; retrying", s.key.DeliverySecretName())
		}
		s.match(fp)
	}
	l := s.want.Ledger
	s.currentLost = lost(s, fp, l.Current)
	s.nextLost = lost(s, fp, l.Next)
	return ctrl.Result{}, nil
}

// match finds the record's secrets in the delivery Secret, in whichever
// field, by their fingerprints.
func (s *apiKeyState) match(fp *keys.Fingerprinter) {
	clear(s.plain)
	clear(s.field)
	if s.delivery == nil {
		return
	}
	for _, field := range deliveryFields {
		k, err := keys.ParseFor(s.want.KeyID, string(s.delivery.Data[field]))
		if err != nil {
			continue
		}
		for _, sec := range s.ledgerSecrets() {
			if _, seen := s.plain[sec.Serial]; seen {
				continue
			}
			if ok, _ := fp.Match(k, sec.Fingerprint); ok {
				s.plain[sec.Serial], s.field[sec.Serial] = k, field
				break
			}
		}
	}
}

// ledgerSecrets are the secrets the delivery Secret should hold.
func (s *apiKeyState) ledgerSecrets() []record.Secret {
	l := s.want.Ledger
	var out []record.Secret
	for _, serial := range []string{l.Current, l.Previous, l.Next} {
		if sec, ok := s.want.BySerial(serial); ok && serial != "" {
			out = append(out, sec)
		}
	}
	if l.Staged != nil {
		out = append(out, *l.Staged)
	}
	return out
}

// missing reports whether a secret the delivery Secret should hold was
// not found in it.
func (s *apiKeyState) missing(fp *keys.Fingerprinter) bool {
	for _, sec := range s.ledgerSecrets() {
		if !s.deliversPlaintext(sec.Serial) {
			continue
		}
		if _, ok := s.plain[sec.Serial]; !ok {
			if _, known := fp.Match(keys.Key{}, sec.Fingerprint); known {
				return true
			}
		}
	}
	return false
}

// lost reports whether the secret of serial, whose fingerprint this
// manager can check, is no longer in the delivery Secret.
func lost(s *apiKeyState, fp *keys.Fingerprinter, serial string) bool {
	if serial == "" {
		return false
	}
	sec, ok := s.want.BySerial(serial)
	if !ok || !s.deliversPlaintext(serial) {
		return false
	}
	_, known := fp.Match(keys.Key{}, sec.Fingerprint)
	_, found := s.plain[serial]
	return known && !found
}

// issueSecret gives a key its first secret, replaces a lost one (with
// backoff: the tenant decides how often it is lost, the manager how often
// it hashes), and finishes what a crash interrupted. A new secret is
// staged in the record (hash and fingerprint, not yet valid), then
// delivered, then made valid by the next record write: the record never
// accepts a secret that is not delivered, and a plaintext is never hashed
// from anywhere but the manager's own memory.
func (r *APIKeyReconciler) issueSecret(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	if s.state == record.Revoked || s.state == record.Expired || s.state == record.Suspended || s.stop {
		return ctrl.Result{}, nil
	}
	if s.want == nil {
		if s.key.Spec.Import != nil && s.key.Status.ImportedTime == nil {
			return r.importKey(ctx, s)
		}
		return ctrl.Result{}, r.mint(ctx, s)
	}
	r.settleStaged(s)
	l := s.ledger()
	_, hasCurrent := s.current()
	switch {
	case s.unsealed:
		// The record's fingerprints cannot be checked yet (sealDelivery).
		return ctrl.Result{}, nil
	case !hasCurrent && l.Next == "":
		// The first secret never reached the delivery Secret: a crash
		// took its plaintext. Stage another: the imported one again if
		// its Secret is still the one read.
		if err := r.reimport(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
		if err := r.stage(ctx, s, record.StagedForKey, "created"); err != nil {
			return ctrl.Result{}, err
		}
		if err := r.deliver(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
		r.settleStaged(s)
		return ctrl.Result{}, nil
	case !s.currentLost || l.Next != "":
		// Intact, or a replacement is already valid and promotion
		// completes the reissue.
		return ctrl.Result{}, nil
	}
	if wait := r.reissues.wait(s.key.UID, s.now); wait > 0 {
		msg := fmt.Sprintf("The delivery Secret %q no longer holds the current key; keyward issues a new one in %s (it holds back after repeated losses).",
			s.key.DeliverySecretName(), wait.Round(timeUnit))
		s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionFalse, keywardv1.ReissueBackoffReason, msg)
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if err := r.stage(ctx, s, record.StagedForNext, "reissued: the delivery Secret no longer held the current key"); err != nil {
		return ctrl.Result{}, err
	}
	r.reissues.done(s.key.UID, s.now)
	s.reissued = true
	if err := r.deliver(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	r.settleStaged(s)
	return ctrl.Result{}, nil
}

// mint binds a fresh key ID to this APIKey by creating its record (create
// only: a key ID that exists is never reused), then delivers the first
// secret. The record says "issuing" until the secret is delivered.
func (r *APIKeyReconciler) mint(ctx context.Context, s *apiKeyState) error {
	if err := r.confirmNoRecord(ctx, s); err != nil {
		return err
	}
	// A key ID status keeps (its record was deleted by hand) is bound to
	// this APIKey again if nobody else holds it.
	reissue := s.key.Status.KeyID != ""
	for attempt := 0; ; attempt++ {
		id, err := keys.NewID()
		if err != nil {
			return err
		}
		if attempt == 0 && reissue {
			id = s.key.Status.KeyID
		}
		s.want = &record.Record{KeyID: id, Owner: s.key.Spec.Owner, State: record.Issuing, Ledger: &record.Ledger{}}
		s.want.Ledger.HandledTrigger, s.want.Ledger.HandledAnnotation = s.key.RotationRequest()
		err = r.stage(ctx, s, record.StagedForKey, "created")
		if !apierrors.IsAlreadyExists(err) || attempt == 2 {
			if err != nil {
				return err
			}
			break
		}
		// 80 random bits collided with a key ID that exists: draw again.
		s.want, s.rec = nil, nil
	}
	s.minted, s.reissued = true, reissue
	// A Secret already there was made by someone else, dressed as ours
	// (keyward's would have a record): its key is never taken, only
	// written over.
	s.preexisting = s.delivery != nil
	s.key.Status.KeyID = s.want.KeyID
	keysIssuedTotal.WithLabelValues("created").Inc()
	log.FromContext(ctx).Info("issued a key", "keyID", s.want.KeyID)
	if err := r.deliver(ctx, s); err != nil {
		return err
	}
	r.settleStaged(s)
	return nil
}

// confirmNoRecord asks the API server whether the key has a record already:
// the cache may not have seen the record of an earlier, interrupted
// reconcile, and minting twice would bind a second key ID.
func (r *APIKeyReconciler) confirmNoRecord(ctx context.Context, s *apiKeyState) error {
	list := &corev1.SecretList{}
	if err := r.APIReader.List(ctx, list, client.InNamespace(r.VerifierNamespace),
		client.MatchingLabels{record.RecordLabel: "true", record.APIKeyUIDLabel: string(s.key.UID)}); err != nil {
		return err
	}
	if len(list.Items) > 0 {
		return errStale
	}
	return nil
}

// stage generates a secret, hashes it and records hash and fingerprint in
// the ledger, not yet valid: the one write after which a crash costs
// nothing but the hash.
func (r *APIKeyReconciler) stage(ctx context.Context, s *apiKeyState, forField, cause string) error {
	if err := r.confirmFresh(ctx, s); err != nil {
		return err
	}
	fp, err := r.fingerprinter(ctx)
	if err != nil {
		return err
	}
	k, err := keys.Generate(s.want.KeyID)
	if s.imported != nil {
		k, err, s.imported = *s.imported, nil, nil
	}
	if err != nil {
		return err
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	phc, err := r.Hashes.Hash(ctx, k)
	if err != nil {
		return fmt.Errorf("hashing a new secret: %w", err)
	}
	l := s.ledger()
	l.Staged = &record.Secret{Serial: serial, Hash: phc, NotBefore: s.now, Fingerprint: fp.Fingerprint(k)}
	if k.IsForeign() {
		lk, err := r.lookupKey(ctx)
		if err != nil {
			l.Staged = nil
			return err
		}
		l.Staged.LookupID = lk.ID(k.Plaintext())
	}
	l.StagedFor = forField
	if forField == record.StagedForKey {
		l.Cause = cause
	} else {
		l.NextCause = cause
	}
	if err := r.saveRecord(ctx, s); err != nil {
		l.Staged = nil
		return err
	}
	s.plain[serial] = k
	s.imported = nil
	if forField == record.StagedForNext && cause != "" {
		log.FromContext(ctx).Info("staged a new secret", "keyID", s.want.KeyID, "cause", cause)
	}
	return nil
}

// settleStaged moves a staged secret that the delivery Secret holds into
// the record's valid secrets (the next record write publishes it), and
// drops one it does not hold: its plaintext existed only in the memory of
// a reconcile that did not finish, and a new one is staged if still due.
// A rotation's next secret that vanished from the delivery Secret goes
// too, and the rotation starts over.
func (r *APIKeyReconciler) settleStaged(s *apiKeyState) {
	l := s.ledger()
	if s.nextLost {
		s.want.Secrets = deleteSerial(s.want.Secrets, l.Next)
		l.Next, s.nextLost = "", false
		l.HandledTrigger, l.HandledAnnotation = "", ""
	}
	st := l.Staged
	if st == nil {
		return
	}
	if _, delivered := s.field[st.Serial]; !delivered {
		l.Staged = nil
		return
	}
	s.want.Secrets = append(s.want.Secrets, *st)
	record.SortSecrets(s.want.Secrets)
	if l.StagedFor == record.StagedForKey {
		l.Current, l.Generation = st.Serial, max(1, l.Generation)
		s.want.State = s.state
	} else {
		// The new secret serves whatever rotation requests stand now,
		// whether this reconcile or an interrupted one staged it.
		l.Next = st.Serial
		l.HandledTrigger, l.HandledAnnotation = s.key.RotationRequest()
	}
	l.Staged, l.StagedFor = nil, ""
}

// deliver writes the delivery Secret the ledger asks for. The first write
// is a create; later ones are a patch conditional on the version read,
// which also removes what keyward's fields should not hold, whoever put it
// there. A Secret of another type (made by hand) is replaced.
func (r *APIKeyReconciler) deliver(ctx context.Context, s *apiKeyState) error {
	v := s.view()
	if v.current == nil && !s.currentLost && v.revealed == nil && !v.hashOnly {
		// A key lost from the delivery Secret is replaced through
		// "nextKey"; any other missing key is a bug to stop at.
		return fmt.Errorf("the current secret of key %s is not at hand; retrying", s.want.KeyID)
	}
	written, err := r.writeDelivery(ctx, s, v)
	if err != nil {
		msg := "Writing the delivery Secret failed: " + err.Error()
		s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionFalse, keywardv1.DeliveryFailedReason, msg)
		s.fail(keywardv1.DeliveryFailedReason, msg)
		return err
	}
	s.delivery = written
	s.locate()
	if v.revealed != nil {
		s.setRevealedCondition(v.revealed)
		return nil
	}
	msg := fmt.Sprintf("Secret %q holds the key under %q.", s.key.DeliverySecretName(), DeliveryKeyField)
	if v.current == nil && v.hashOnly {
		msg = fmt.Sprintf("Secret %q holds only the key ID: the key was imported by hash (spec.import.hash), so keyward has no plaintext to deliver; its holders keep using the key they have.", s.key.DeliverySecretName())
	}
	s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionTrue, keywardv1.SecretWrittenReason, msg)
	return nil
}

func (r *APIKeyReconciler) writeDelivery(ctx context.Context, s *apiKeyState, v deliveryView) (*corev1.Secret, error) {
	old := s.delivery
	if old != nil && old.Type != DeliverySecretType {
		if err := r.Client.Delete(ctx, old, client.Preconditions{UID: &old.UID, ResourceVersion: &old.ResourceVersion}); client.IgnoreNotFound(err) != nil {
			return nil, err
		}
		old = nil
	}
	var sec *corev1.Secret
	if old == nil {
		sec = v.secret(s.key)
	} else {
		sec = old.DeepCopy()
		v.renderInto(sec, s.key)
	}
	// The plaintexts rendered for this write, and the answer decoded over
	// them, are overwritten once it is sent; the Secret handed back is a
	// copy of its own.
	rendered := maps.Clone(sec.Data)
	var err error
	if old == nil {
		err = r.Client.Create(ctx, sec, client.FieldOwner(FieldOwner))
	} else {
		patch := client.MergeFromWithOptions(old, client.MergeFromWithOptimisticLock{})
		err = r.Client.Patch(ctx, sec, patch, client.FieldOwner(FieldOwner))
	}
	written := sec.DeepCopy()
	wipePlaintexts(rendered)
	wipePlaintexts(sec.Data)
	return written, err
}

// locate notes where each plaintext at hand now is in the delivery Secret.
func (s *apiKeyState) locate() {
	clear(s.field)
	for serial, k := range s.plain {
		for _, field := range deliveryFields {
			if got, err := keys.ParseFor(k.ID(), string(s.delivery.Data[field])); err == nil && got.Equal(k) {
				s.field[serial] = field
			}
		}
	}
}

// confirmFresh refuses to hash on a record the cache shows older than the
// API server holds.
func (r *APIKeyReconciler) confirmFresh(ctx context.Context, s *apiKeyState) error {
	if s.rec == nil {
		return nil
	}
	live, err := r.recordOf(ctx, s.want.KeyID, true)
	switch {
	case err != nil:
		return err
	case live == nil || live.secret.ResourceVersion != s.rec.secret.ResourceVersion:
		return errStale
	}
	return nil
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

func (r *APIKeyReconciler) fingerprinter(ctx context.Context) (*keys.Fingerprinter, error) {
	return r.fingerprints.get(ctx, r.Client, r.APIReader, r.ManagerNamespace)
}

func deleteSerial(secrets []record.Secret, serial string) []record.Secret {
	out := secrets[:0:0]
	for _, sec := range secrets {
		if sec.Serial != serial {
			out = append(out, sec)
		}
	}
	return out
}

func newSerial() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}
