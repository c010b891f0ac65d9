package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/lifecycle"
	"github.com/keyward-dev/keyward/internal/record"
)

// timeUnit rounds the waits messages mention.
const timeUnit = time.Second

// plan asks the schedule what is due for the key's secrets now.
func (r *APIKeyReconciler) plan(s *apiKeyState) lifecycle.Plan {
	in := lifecycle.Input{
		Now:        s.now,
		Active:     s.rotatable(),
		Interval:   s.key.RotationInterval(),
		ExpiresAt:  s.expiresAt,
		WarnBefore: r.WarnBefore,
	}
	if cur, ok := s.current(); ok {
		in.IssuedAt = cur.NotBefore
		if prev, ok := s.previous(); ok {
			in.PreviousValidUntil = prev.NotAfter
		}
	}
	return lifecycle.Schedule(in)
}

// rotateCause says why the key needs a new secret, or "". Requests served
// are in the record's ledger, where the key's namespace cannot undo them.
func (r *APIKeyReconciler) rotateCause(s *apiKeyState) string {
	if !s.rotatable() || s.want == nil || s.want.Ledger == nil || s.unsealed {
		return ""
	}
	l := s.want.Ledger
	if _, ok := s.current(); !ok || s.currentLost || l.Next != "" || l.Staged != nil {
		return ""
	}
	trigger, annotation := s.key.RotationRequest()
	switch {
	case trigger != l.HandledTrigger:
		return "spec.rotation.trigger changed"
	case annotation != l.HandledAnnotation:
		return "annotation keyward.dev/rotate changed"
	case r.plan(s).Rotate:
		return "scheduled"
	}
	return ""
}

// rotateIfDue stages a new secret, delivers it as nextKey and marks it
// valid for the record write that follows (publishRecord). Only after
// that does it become the key consumers read (promoteRotation): consumers
// never see a key the verifier does not know yet.
func (r *APIKeyReconciler) rotateIfDue(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	cause := r.rotateCause(s)
	if cause == "" {
		return ctrl.Result{}, nil
	}
	if err := r.stage(ctx, s, record.StagedForNext, cause); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.deliver(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	r.settleStaged(s)
	s.staged = true
	return ctrl.Result{}, nil
}

// promoteRotation makes the published next secret the one consumers read.
// The replaced secret becomes previousKey, valid for the grace period from
// now; a secret the delivery Secret had lost (a reissue) goes at once. The
// delivery Secret changes first, then the record: a crash in between only
// starts the grace period a little later.
func (r *APIKeyReconciler) promoteRotation(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	if s.want == nil || s.want.Ledger == nil || s.want.Ledger.Next == "" || s.rec == nil {
		return ctrl.Result{}, nil
	}
	l := s.want.Ledger
	if _, published := s.rec.record.BySerial(l.Next); !published || s.rec.record.Ledger == nil || s.rec.record.Ledger.Next != l.Next {
		return ctrl.Result{}, nil
	}
	old, hadCurrent := s.current()
	// A revealed secret, and an imported hash that never had a plaintext
	// here, are with their consumers though not in the delivery Secret:
	// they keep the grace period like any other. A leaked secret gets no
	// grace: the rotation is what ends its leak.
	_, keepOld := s.plain[old.Serial]
	keepOld = (keepOld || s.revealedCurrent() || old.HashOnly) && hadCurrent && !s.currentLost && s.key.GracePeriod() > 0 && !s.leakedSerials[old.Serial]
	if keepOld {
		until := s.now.Add(s.key.GracePeriod())
		for i := range s.want.Secrets {
			if s.want.Secrets[i].Serial == old.Serial {
				s.want.Secrets[i].NotAfter = &until
			}
		}
		if l.Previous != "" && l.Previous != old.Serial {
			s.want.Secrets = deleteSerial(s.want.Secrets, l.Previous)
		}
		l.Previous = old.Serial
	} else {
		s.want.Secrets = deleteSerial(s.want.Secrets, old.Serial)
		if l.Previous != "" {
			s.want.Secrets = deleteSerial(s.want.Secrets, l.Previous)
		}
		l.Previous = ""
	}
	l.Current, l.Next = l.Next, ""
	l.Generation++
	l.Cause, l.NextCause = l.NextCause, ""
	s.currentLost = false
	if s.field[l.Current] != DeliveryKeyField || (keepOld && s.field[old.Serial] != DeliveryPreviousKeyField) {
		if err := r.deliver(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.saveRecord(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	s.rotated = true
	keysIssuedTotal.WithLabelValues("rotated").Inc()
	log.FromContext(ctx).Info("rotated", "keyID", s.want.KeyID, "previousValidUntil", s.key.GracePeriod())
	return ctrl.Result{}, nil
}

// repairDelivery makes the delivery Secret hold what the ledger says, when
// it does not: a previous key whose grace ended leaves it, and whatever
// someone changed in keyward's fields (a serial, an end of validity, a
// foreign key ID, a stray plaintext) is written back, without hashing,
// with a Warning Event.
func (r *APIKeyReconciler) repairDelivery(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	if s.want == nil || s.want.Ledger == nil || s.want.Ledger.Current == "" || s.currentLost || s.unsealed ||
		s.state == record.Revoked || s.state == record.Expired {
		return ctrl.Result{}, nil
	}
	v := s.view()
	if (v.current == nil && v.revealed == nil) || v.heldBy(s.delivery, s.key) {
		return ctrl.Result{}, nil
	}
	endsGrace := s.delivery != nil && s.delivery.Data[DeliveryPreviousKeyField] != nil && v.previous == nil && s.original.Status.PreviousSecretValidUntil != nil
	wroteThis := s.minted || s.reissued || s.staged || s.rotated
	if err := r.deliver(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	switch {
	case endsGrace:
		s.graceEnded = true
	case !wroteThis:
		s.repaired = true
	}
	return ctrl.Result{}, nil
}

// announceRepair tells the key's owners that keyward undid a change to the
// delivery Secret.
func (r *APIKeyReconciler) announceRepair(s *apiKeyState) {
	if s.preexisting {
		r.Recorder.Eventf(s.key, nil, corev1.EventTypeWarning, keywardv1.DeliveryRepairedReason, "Deliver",
			"%s", fmt.Sprintf("Secret %s existed before keyward issued this key; keyward never takes a key from a Secret it did not write, and wrote its own.", s.key.DeliverySecretName()))
	}
	if s.repaired {
		r.Recorder.Eventf(s.key, nil, corev1.EventTypeWarning, keywardv1.DeliveryRepairedReason, "Deliver",
			"%s", fmt.Sprintf("Delivery Secret %s did not hold what keyward wrote; keyward wrote it again. Only keyward writes the key's fields and keyward.dev/ annotations there.", s.key.DeliverySecretName()))
	}
}
