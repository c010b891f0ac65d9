package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/record"
)

// One-time delivery (spec.delivery.revealOnce). Whether a secret was
// revealed is kept in the record's ledger, where only keyward writes: the
// annotation on the APIKey only asks, and names the serial of the secret
// it read (the delivery Secret's keyward.dev/serial). Serials are random
// and new with every secret, so a value copied from another APIKey, an
// exported manifest or a restore, or preset for a rotation to come, names
// no secret of this key and changes nothing. The delivery Secret then
// holds the key ID and the fact of the reveal, which keyward writes back
// whatever a tenant does to it.

// revealedCurrent reports whether the current secret's plaintext has left
// the delivery Secret.
func (s *apiKeyState) revealedCurrent() bool {
	if s.want == nil || s.want.Ledger == nil {
		return false
	}
	l := s.want.Ledger
	return l.Revealed != nil && l.Current != "" && l.Revealed.Generation == max(1, l.Generation)
}

// deliversPlaintext reports whether the delivery Secret should hold the
// plaintext of serial: not a revealed current secret, nor the previous
// secret of a revealed one or of one replaced right after its reveal (a
// rotation delivers only the new secret).
func (s *apiKeyState) deliversPlaintext(serial string) bool {
	l := s.want.Ledger
	if l == nil || l.Revealed == nil {
		return true
	}
	gen := max(1, l.Generation)
	switch serial {
	case l.Current:
		return l.Revealed.Generation != gen
	case l.Previous:
		return l.Revealed.Generation < gen-1
	}
	return true
}

// revealDeadline is when the current secret's plaintext leaves the
// delivery Secret unread, or nil.
func (s *apiKeyState) revealDeadline() *time.Time {
	within := s.key.RevealWithin()
	cur, ok := s.current()
	if within == 0 || !ok {
		return nil
	}
	t := cur.NotBefore.Add(within)
	return &t
}

// revealIfDue removes the current plaintext from the delivery Secret once
// the APIKey names its serial as read, or at the reveal deadline. A
// request naming the secret a rotation just replaced (read while the
// rotation went on) removes that one from "previousKey": the printed key
// is not left readable for the grace period. The record is written first:
// a crash before the Secret is rewritten leaves a ledger that
// repairDelivery carries out.
func (r *APIKeyReconciler) revealIfDue(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	if !s.key.RevealOnce() || s.want == nil || s.want.Ledger == nil || s.unsealed || s.currentLost ||
		s.state == record.Revoked || s.state == record.Expired || s.revealedCurrent() {
		return ctrl.Result{}, nil
	}
	l := s.want.Ledger
	if _, ok := s.current(); !ok || l.Next != "" || l.Staged != nil {
		// A secret on its way: the request may name the secret about to
		// be replaced, and is read again once the rotation settled.
		return ctrl.Result{}, nil
	}
	gen := max(1, l.Generation)
	asked := s.key.Annotations[keywardv1.RevealedAnnotation]
	cause, revealed := "", gen
	var res ctrl.Result
	switch deadline := s.revealDeadline(); {
	case asked != "" && asked == l.Current:
		cause = record.RevealRead
	case deadline != nil && !s.now.Before(*deadline):
		cause = record.RevealDeadline
	case asked != "" && asked == l.Previous && s.deliversPlaintext(l.Previous):
		cause, revealed = record.RevealRead, gen-1
	case deadline != nil:
		res.RequeueAfter = deadline.Sub(s.now)
	}
	if cause == "" {
		return res, nil
	}
	l.Revealed = &record.Reveal{Generation: revealed, At: s.now, Cause: cause}
	if err := r.saveRecord(ctx, s); err != nil {
		l.Revealed = nil
		return ctrl.Result{}, err
	}
	if err := r.deliver(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	s.revealed = cause
	log.FromContext(ctx).Info("removed a revealed plaintext from the delivery Secret", "keyID", s.want.KeyID, "generation", revealed, "cause", cause)
	return ctrl.Result{}, nil
}

// setRevealedCondition says on Delivered that the key went to its
// consumer and is no longer in the Secret.
func (s *apiKeyState) setRevealedCondition(rev *record.Reveal) {
	at := rev.At.UTC().Format(time.RFC3339)
	reason := keywardv1.RevealedReason
	msg := fmt.Sprintf("The key was revealed at %s; Secret %q now holds only its key ID. The key keeps verifying; rotate it to deliver a new one.",
		at, s.key.DeliverySecretName())
	if rev.Cause == record.RevealDeadline {
		reason = keywardv1.RevealDeadlinePassedReason
		msg = fmt.Sprintf("Nobody revealed the key within spec.delivery.revealWithinSeconds; keyward removed it from Secret %q at %s. The key keeps verifying; rotate it to deliver a new one.",
			s.key.DeliverySecretName(), at)
	}
	s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionTrue, reason, msg)
}

// revealStatus fills status.delivery's reveal facts from the ledger.
func (s *apiKeyState) revealStatus(st *keywardv1.DeliveryStatus) {
	st.RevealedTime, st.RevealDeadline = nil, nil
	switch {
	case s.revealedCurrent():
		st.RevealedTime = &metav1.Time{Time: s.want.Ledger.Revealed.At}
	case s.key.RevealOnce():
		st.RevealDeadline = timeOrNil(s.revealDeadline())
	}
}

// announceReveal sends the Event and audit line of a reveal.
func (r *APIKeyReconciler) announceReveal(s *apiKeyState) {
	if s.revealed == "" {
		return
	}
	prefix := s.key.Spec.Owner + "/" + s.key.Status.KeyID
	reason := keywardv1.RevealedReason
	revealed := s.want.Ledger.Revealed.Generation
	msg := fmt.Sprintf("Key %s (generation %d) was revealed; Secret %s now holds only its key ID.", prefix, revealed, s.key.DeliverySecretName())
	switch {
	case !s.revealedCurrent():
		msg = fmt.Sprintf("Key %s (generation %d) was revealed after a rotation replaced it; Secret %s no longer holds it as %q, and holds generation %d once, until it is revealed.",
			prefix, revealed, s.key.DeliverySecretName(), DeliveryPreviousKeyField, max(1, s.want.Ledger.Generation))
	case s.revealed == record.RevealDeadline:
		reason = keywardv1.RevealDeadlinePassedReason
		msg = fmt.Sprintf("Key %s (generation %d) was not revealed in time; keyward removed it from Secret %s.", prefix, s.want.Ledger.Revealed.Generation, s.key.DeliverySecretName())
	}
	r.emit(s, corev1.EventTypeNormal, reason, audit.Revealed, "Reveal", msg)
}

// deliveryStatus writes status.delivery, or leaves it out when it would
// say nothing.
func (s *apiKeyState) deliveryStatus() {
	st := &keywardv1.DeliveryStatus{}
	if d := s.key.Status.Delivery; d != nil {
		st.SnippetsConfigMap, st.Endpoints = d.SnippetsConfigMap, d.Endpoints
	}
	s.revealStatus(st)
	if *st == (keywardv1.DeliveryStatus{}) {
		st = nil
	}
	s.key.Status.Delivery = st
}
