package controllers

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/keyward-dev/keyward/internal/lifecycle"
	"github.com/keyward-dev/keyward/internal/record"
)

// plan asks the schedule what is due for the delivered keys now.
func (r *APIKeyReconciler) plan(s *keyScope, d *delivered) lifecycle.Plan {
	in := lifecycle.Input{
		Now:        s.now,
		Active:     s.state == record.Active,
		Interval:   s.key.RotationInterval(),
		ExpiresAt:  s.expiresAt,
		WarnBefore: r.WarnBefore,
	}
	if d != nil {
		in.IssuedAt = d.current.issuedAt
		if d.previous != nil {
			in.PreviousValidUntil = &d.previousValidUntil
		}
	}
	return lifecycle.Schedule(in)
}

// rotateCause says why the delivered keys need a new secret, or "".
func (r *APIKeyReconciler) rotateCause(s *keyScope, d *delivered) string {
	if s.state != record.Active || d == nil || d.next != nil {
		return ""
	}
	trigger, annotation := s.key.RotationRequest()
	switch {
	case trigger != d.handledTrigger:
		return "spec.rotation.trigger changed"
	case annotation != d.handledAnnotation:
		return "annotation keyward.dev/rotate changed"
	case r.plan(s, d).Rotate:
		return "scheduled"
	}
	return ""
}

// rotateIfDue stores a new secret beside the current one (as nextKey). Its
// hash is published next, and only then does it become the key consumers
// read: consumers never see a key the verifier does not know yet.
func (r *APIKeyReconciler) rotateIfDue(ctx context.Context, s *keyScope) (ctrl.Result, error) {
	if r.rotateCause(s, s.delivered) == "" {
		return ctrl.Result{}, nil
	}
	// Decide on what the API server holds, not on the cache: a rotation
	// this process already stored must not happen twice.
	d, err := r.freshDelivery(ctx, s, true)
	if err != nil {
		return ctrl.Result{}, err
	}
	cause := r.rotateCause(s, d)
	if cause == "" {
		return ctrl.Result{}, nil
	}
	next, err := r.newSecret(ctx, s, d.current.key.ID())
	if err != nil {
		return ctrl.Result{}, err
	}
	next.generation, next.cause = d.current.generation+1, cause
	d.next = &next
	d.handledTrigger, d.handledAnnotation = s.key.RotationRequest()
	if err := r.writeDelivery(ctx, s, d); err != nil {
		return ctrl.Result{}, err
	}
	s.staged = true
	log.FromContext(ctx).Info("stored a new secret for rotation", "keyID", d.current.key.ID(), "cause", cause)
	return ctrl.Result{}, nil
}

// promoteRotation makes the stored new secret the current one once the
// record carries its hash; the old one becomes previousKey, and its grace
// period starts now. The record then learns when the grace ends.
func (r *APIKeyReconciler) promoteRotation(ctx context.Context, s *keyScope) (ctrl.Result, error) {
	if s.delivered == nil || s.delivered.next == nil || !s.published[s.delivered.next.serial] {
		return ctrl.Result{}, nil
	}
	d, err := r.freshDelivery(ctx, s, false)
	if err != nil || d.next == nil {
		return ctrl.Result{}, err
	}
	old := d.current
	d.previous, d.previousValidUntil = &old, s.now.Add(s.key.GracePeriod())
	d.current, d.next = *d.next, nil
	if err := r.writeDelivery(ctx, s, d); err != nil {
		return ctrl.Result{}, err
	}
	s.rotated = true
	keysIssuedTotal.WithLabelValues("rotated").Inc()
	log.FromContext(ctx).Info("rotated", "keyID", d.current.key.ID(), "previousValidUntil", d.previousValidUntil)
	return r.publishRecord(ctx, s)
}

// endGrace removes the previous key from the delivery Secret once its grace
// period is over; publishRecord has already dropped its hash.
func (r *APIKeyReconciler) endGrace(ctx context.Context, s *keyScope) (ctrl.Result, error) {
	d := s.delivered
	if d == nil || d.previous == nil || s.now.Before(d.previousValidUntil) || s.published[d.previous.serial] {
		return ctrl.Result{}, nil
	}
	d, err := r.freshDelivery(ctx, s, false)
	if err != nil || d.previous == nil {
		return ctrl.Result{}, err
	}
	d.previous, d.previousValidUntil = nil, time.Time{}
	if err := r.writeDelivery(ctx, s, d); err != nil {
		return ctrl.Result{}, err
	}
	s.graceEnded = true
	return ctrl.Result{}, nil
}
