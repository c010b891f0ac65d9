package controllers

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/record"
)

// recordActions emits the Events of writes that leave no trace in status:
// a reissued secret and a record update. Like every Event they are at most
// once: a crash right after the write loses the Event, never the write.
func (r *APIKeyReconciler) recordActions(s *apiKeyState) {
	key := s.key
	prefix := key.Spec.Owner + "/" + key.Status.KeyID
	if s.reissued {
		r.emit(s, corev1.EventTypeWarning, keywardv1.SecretReissuedReason, audit.Reissued, "Issue",
			fmt.Sprintf("Delivery Secret %s was missing or no longer held the key keyward wrote: issued a new secret for key %s. The previous secret no longer verifies once the new one is delivered.",
				key.DeliverySecretName(), prefix))
	}
	if s.recordWritten && !s.minted && !s.reissued && !s.staged && !s.rotated && !s.graceEnded && !s.readyChanged() &&
		s.original.Status.KeyID != "" {
		r.Recorder.Eventf(key, nil, corev1.EventTypeNormal, keywardv1.UpdatedReason, "Publish",
			"Published key record version %d.", s.recordVersion)
	}
}

func (s *apiKeyState) readyChanged() bool {
	before := s.condition(s.original, keywardv1.ReadyCondition)
	after := s.condition(s.key, keywardv1.ReadyCondition)
	return after != nil && (before == nil || before.Reason != after.Reason)
}

// recordTransitions emits one Event and one audit line per transition
// that the status records. It runs only after that status was written, so
// each transition is announced once, whoever finishes a step after a crash.
func (r *APIKeyReconciler) recordTransitions(s *apiKeyState) {
	key, old := s.key, &s.original.Status
	prefix := key.Spec.Owner + "/" + key.Status.KeyID
	if old.KeyID == "" && key.Status.KeyID != "" {
		msg := fmt.Sprintf("Issued key %s, delivered to Secret %s.", prefix, key.DeliverySecretName())
		if old.ImportedTime == nil && key.Status.ImportedTime != nil {
			msg = importedMessage(key, prefix)
		}
		r.emit(s, corev1.EventTypeNormal, keywardv1.CreatedReason, audit.Created, "Issue", msg)
	}
	if key.Status.SecretGeneration > old.SecretGeneration && old.SecretGeneration > 0 && key.Status.PreviousSecretValidUntil != nil {
		r.emit(s, corev1.EventTypeNormal, keywardv1.RotatedReason, audit.Rotated, "Rotate",
			fmt.Sprintf("Rotated key %s (%s): the new secret is in %s/%s; the previous one, in %s, verifies until %s.",
				prefix, s.rotationCause(), key.DeliverySecretName(), DeliveryKeyField, DeliveryPreviousKeyField,
				key.Status.PreviousSecretValidUntil.UTC().Format(time.RFC3339)))
	}
	if old.PreviousSecretValidUntil != nil && key.Status.PreviousSecretValidUntil == nil && s.state != record.Revoked && s.state != record.Expired {
		r.emit(s, corev1.EventTypeNormal, keywardv1.GraceEndedReason, audit.GraceEnded, "Rotate",
			fmt.Sprintf("The grace period of key %s ended: only the current secret verifies.", prefix))
	}
	before := s.condition(s.original, keywardv1.ReadyCondition)
	after := s.condition(key, keywardv1.ReadyCondition)
	if s.readyChanged() {
		switch {
		case after.Reason == keywardv1.RevokedReason:
			r.emit(s, corev1.EventTypeNormal, keywardv1.RevokedReason, audit.Revoked, "Revoke", after.Message)
		case after.Reason == keywardv1.ExpiredReason:
			r.emit(s, corev1.EventTypeWarning, keywardv1.ExpiredReason, audit.Expired, "Expire", after.Message)
		case after.Reason == keywardv1.LeakedReason:
			// Announced as KeyLeaked, below.
		case after.Reason == keywardv1.SuspendedByDetectorReason || after.Reason == keywardv1.RevokedByDetectorReason:
			// Announced as KeyAnomalous, below.
		case after.Reason == keywardv1.SuspendedReason:
			r.emit(s, corev1.EventTypeNormal, keywardv1.SuspendedReason, audit.Suspended, "Suspend", after.Message)
		case after.Status == metav1.ConditionTrue && before != nil && before.Reason == keywardv1.SuspendedReason:
			r.emit(s, corev1.EventTypeNormal, keywardv1.ResumedReason, audit.Resumed, "Resume",
				fmt.Sprintf("Key %s is resumed; the verifier accepts it again.", prefix))
		case after.Status != metav1.ConditionTrue:
			r.Recorder.Eventf(key, nil, corev1.EventTypeWarning, after.Reason, "Reconcile", "%s", after.Message)
		}
	}

	beforePolicy := s.condition(s.original, keywardv1.PolicyViolationCondition)
	afterPolicy := s.condition(key, keywardv1.PolicyViolationCondition)
	if afterPolicy != nil && afterPolicy.Status == metav1.ConditionTrue &&
		(beforePolicy == nil || beforePolicy.Status != metav1.ConditionTrue || beforePolicy.Message != afterPolicy.Message) {
		r.Recorder.Eventf(key, nil, corev1.EventTypeWarning, keywardv1.PolicyViolatedReason, "Evaluate", "%s", afterPolicy.Message)
	}

	beforeWarn := s.condition(s.original, keywardv1.ExpiringCondition)
	afterWarn := s.condition(key, keywardv1.ExpiringCondition)
	if afterWarn != nil && afterWarn.Status == metav1.ConditionTrue &&
		(beforeWarn == nil || beforeWarn.Status != metav1.ConditionTrue || beforeWarn.Message != afterWarn.Message) {
		r.Recorder.Eventf(key, nil, corev1.EventTypeWarning, afterWarn.Reason, "Warn", "%s", afterWarn.Message)
	}

	if l := key.Status.Leak; l != nil && (old.Leak == nil || !old.Leak.ReportedTime.Equal(&l.ReportedTime)) {
		r.emit(s, corev1.EventTypeWarning, keywardv1.KeyLeakedReason, audit.Leaked, string(l.Action), leakMessage(key, s.leakHitsCurrent))
	}
	r.announceAnomalyTransitions(s)
	r.announceVerifier(s)
	r.announceQuota(s)
}

func (s *apiKeyState) rotationCause() string {
	if s.want == nil || s.want.Ledger == nil || s.want.Ledger.Cause == "" {
		return "cause not recorded"
	}
	return s.want.Ledger.Cause
}

// emit sends one Event and the matching audit line. The line carries the
// APIKey's UID and generation, which join it to the admission line naming
// whoever made the change (Recall); when this process admitted that change
// itself, it names the user and the admission directly. With several
// replicas only the leader writes lifecycle lines, while the API server
// calls any replica's webhook: the join then goes through the other
// replica's trail. Never a name the client chose (a field manager, an
// annotation) is taken for the actor.
func (r *APIKeyReconciler) emit(s *apiKeyState, eventType, reason, action, verb, msg string) {
	r.Recorder.Eventf(s.key, nil, eventType, reason, verb, "%s", msg)
	if r.Audit == nil {
		return
	}
	e := audit.Event{
		Time: s.now, Action: action, KeyID: s.key.Status.KeyID, Owner: s.key.Spec.Owner,
		Namespace: s.key.Namespace, Name: s.key.Name, Reason: msg,
		UID: string(s.key.UID), Generation: s.key.Generation,
	}
	if recall, ok := r.Audit.(audit.Recall); ok && madeByARequest[action] {
		if admitted, ok := recall.Admitted(e.UID, e.Generation, action); ok {
			e.Actor, e.Admission = admitted.Actor, admitted.Admission
		}
	}
	r.Audit.Record(e)
}

// madeByARequest are the lifecycle actions a request to the API server can
// cause, under the same name as the admitted change. Rotations, expiry and
// grace periods follow the schedule (an on-demand rotation's request is on
// its admission line, RotationRequested); a reissue follows a Secret's
// deletion, which no keyward webhook sees.
var madeByARequest = map[string]bool{
	audit.Created: true, audit.Revoked: true, audit.Suspended: true, audit.Resumed: true, audit.Deleted: true,
}
