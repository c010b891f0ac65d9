package controllers

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/notify"
	"github.com/keyward-dev/keyward/internal/record"
)

// Notifier sends warnings before scheduled rotations and expiry.
type Notifier interface {
	Send(ctx context.Context, eventType string, w notify.Warning) error
}

// warnAndSchedule sets the Expiring condition, sends a warning the first
// time a rotation or the expiry comes within the warning window, and asks to
// be woken at the next instant the schedule changes anything.
func (r *APIKeyReconciler) warnAndSchedule(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	p := r.plan(s)
	st := &s.key.Status
	st.NextRotationTime = nil
	if s.state == record.Active {
		st.NextRotationTime = timeOrNil(p.NextRotation)
	}
	res := ctrl.Result{RequeueAfter: p.RequeueAfter}
	if s.state == record.Revoked {
		if until := st.RevokedTime.Add(r.TombstoneRetention); until.After(s.now) {
			res = earliest(res, ctrl.Result{RequeueAfter: until.Sub(s.now)})
		}
	}

	var reason, eventType string
	var at time.Time
	switch {
	case p.ExpiryWarning:
		reason, eventType, at = keywardv1.ExpiresSoonReason, notify.ExpiryDueType, *s.expiresAt
	case p.RotationWarning:
		reason, eventType, at = keywardv1.RotationDueSoonReason, notify.RotationDueType, *p.NextRotation
	default:
		s.setCondition(keywardv1.ExpiringCondition, metav1.ConditionFalse, keywardv1.NotExpiringReason,
			"Neither a scheduled rotation nor the expiry is near.")
		return res, nil
	}
	msg := fmt.Sprintf("The key expires at %s.", at.Format(time.RFC3339))
	if reason == keywardv1.RotationDueSoonReason {
		msg = fmt.Sprintf("The secret is rotated at %s; consumers then have %s to pick up the new key.",
			at.Format(time.RFC3339), s.key.GracePeriod())
	}
	before := s.condition(s.original, keywardv1.ExpiringCondition)
	isNew := before == nil || before.Status != metav1.ConditionTrue || before.Message != msg
	if isNew && r.Notifier != nil {
		err := r.Notifier.Send(ctx, eventType, notify.Warning{
			KeyID: st.KeyID, Owner: s.key.Spec.Owner, Namespace: s.key.Namespace, Name: s.key.Name, At: at, Message: msg,
		})
		if err != nil {
			// Not marked as sent: the retry (with the workqueue's backoff)
			// sends it again.
			notificationFailuresTotal.Inc()
			return res, fmt.Errorf("sending the %s notification: %w", reason, err)
		}
		notificationsTotal.Inc()
	}
	s.setCondition(keywardv1.ExpiringCondition, metav1.ConditionTrue, reason, msg)
	return res, nil
}
