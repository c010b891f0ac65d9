package controllers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/notify"
	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/internal/record"
)

// AnomalyAlertLifetime is how long a finding that only alerts stays on a
// key unacknowledged: past it the Anomalous condition clears on its own
// (reason NoAnomaly). A suspension never clears on its own.
const AnomalyAlertLifetime = 24 * time.Hour

// applyAnomaly takes the key's new findings from the inbox into the key
// record's ledger, acts on the ledger's current finding (suspends or
// revokes the key as the policy said when it was found) and lifts it when
// a person acknowledges it. The ledger lives in the verifier's namespace,
// which tenants cannot write, so it alone decides: status.anomaly and an
// annotation naming anything but the current finding's random id change
// nothing.
func (r *APIKeyReconciler) applyAnomaly(_ context.Context, s *apiKeyState) (ctrl.Result, error) {
	if s.key.Status.KeyID == "" {
		return ctrl.Result{}, nil
	}
	var found []analytics.Finding
	if r.Anomalies != nil {
		found = r.Anomalies.take(s.key.Status.KeyID)
	}
	if s.want == nil || s.want.Ledger == nil {
		// Revoked or expired (the ledger went with the secrets, but for
		// the finding that revoked the key): a finding changes nothing,
		// and status keeps what it showed.
		return ctrl.Result{}, nil
	}
	l := s.want.Ledger
	// An alert past its lifetime is no current finding: it must not hold
	// back the next one.
	if a := l.Anomaly; a != nil && a.Action == string(keywardv1.AnomalyAlert) && alertLeft(a, s.now) <= 0 {
		l.Anomaly = nil
	}
	s.takenFindings = found
	for _, f := range found {
		if err := s.recordFinding(l, f); err != nil {
			return ctrl.Result{}, err
		}
	}
	s.anomalyRead = true
	defer func() { s.anomaly = l.Anomaly }()
	a := l.Anomaly
	if a == nil {
		return ctrl.Result{}, nil
	}
	if ack := s.key.Annotations[keywardv1.AcknowledgeAnomalyAnnotation]; ack != "" && ack == a.ID {
		l.AcknowledgedAnomaly, l.Anomaly = a.Fingerprint, nil
		s.anomalyAcknowledged = a
		return ctrl.Result{}, nil
	}
	if a.Action == string(keywardv1.AnomalyAlert) {
		left := alertLeft(a, s.now)
		if left <= 0 {
			l.Anomaly = nil
			return ctrl.Result{}, nil
		}
		return ctrl.Result{RequeueAfter: left}, nil
	}
	prefix := s.key.Spec.Owner + "/" + s.key.Status.KeyID
	switch {
	case a.Action == string(keywardv1.AnomalyRevoke) && s.state != record.Expired && (s.state != record.Revoked || s.stateReason == keywardv1.RevokedReason):
		// A tombstone that kept the finding (revocationLedger) is this
		// detector's revocation, whose status write did not land: the
		// record phase read only "revoked" from it.
		s.revokeBy(keywardv1.RevokedByDetectorReason, fmt.Sprintf("Key %s is revoked for good by the %s detector (%s): %s Create a new APIKey.", prefix, a.ActionBy, a.Reason, sentence(a.Message)))
	case a.Action == string(keywardv1.AnomalySuspend) && s.state == record.Active:
		s.suspendBy(keywardv1.SuspendedByDetectorReason, fmt.Sprintf("Key %s is suspended by the %s detector (%s): %s To lift the suspension after checking, set the annotation %s=%s.",
			prefix, a.ActionBy, a.Reason, sentence(a.Message), keywardv1.AcknowledgeAnomalyAnnotation, a.ID))
	}
	return ctrl.Result{}, nil
}

// alertLeft is how long alert a stays current.
func alertLeft(a *record.Anomaly, now time.Time) time.Duration {
	return a.At.Add(AnomalyAlertLifetime).Sub(now)
}

// revocationLedger is what a tombstone keeps of the key's ledger: the
// finding of a detector that revoked the key, and nothing else. The
// revocation's status write may not land (the usage aggregator writes
// status.usage of the same key in the pass that found it); the next
// reconcile then still shows the finding and names the detector.
func revocationLedger(l *record.Ledger) *record.Ledger {
	if l == nil || l.Anomaly == nil || l.Anomaly.Action != string(keywardv1.AnomalyRevoke) {
		return nil
	}
	return &record.Ledger{Anomaly: l.Anomaly}
}

// recordFinding puts f into the ledger unless it is ignored, already
// there or acknowledged. It becomes the current finding only when it
// supersedes the current one; otherwise it is noted beside it, and the
// current finding keeps its id, what it says and the action taken.
func (s *apiKeyState) recordFinding(l *record.Ledger, f analytics.Finding) error {
	if s.state == record.Revoked || s.state == record.Expired {
		return nil
	}
	fp := fmt.Sprintf("%s/%s/%d", f.Detector, f.Reason, f.At.Unix())
	if cur := l.Anomaly; fp == l.AcknowledgedAnomaly || (cur != nil && (cur.Fingerprint == fp || cur.LastLater.Fingerprint == fp)) {
		return nil
	}
	action := policy.EffectiveAnomalyAction(s.policyKey, s.policies, f.Detector)
	if action == policy.AnomalyIgnore {
		return nil
	}
	if !f.Actionable && action > policy.AnomalyAlert {
		action = policy.AnomalyAlert
	}
	at := f.At.UTC().Truncate(time.Second)
	if cur := l.Anomaly; cur != nil && !supersedes(action, f, cur) {
		cur.Later++
		cur.LastLater = record.LaterFinding{Fingerprint: fp, Detector: string(f.Detector), Reason: string(f.Reason), At: at}
		return nil
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	l.Anomaly = &record.Anomaly{
		ID: hex.EncodeToString(id), Fingerprint: fp, Detector: string(f.Detector), Reason: string(f.Reason), Message: f.Message,
		At: at, Action: action.String(), ActionBy: string(f.Detector), NotActionable: !f.Actionable,
	}
	return nil
}

// supersedes reports whether a finding f, whose action is action, takes
// the place of the current finding cur. A stricter action always does, so
// an action taken is never lowered. Of the same action, a finding only the
// key's holder could cause replaces one that anyone knowing the key ID
// could, never the other way round; and a newer alert replaces an alert of
// its kind, each with its own notification, so none is buried. A
// suspension stays on the finding that caused it, whose id lifts it.
func supersedes(action policy.AnomalyAction, f analytics.Finding, cur *record.Anomaly) bool {
	taken, _ := policy.ParseAnomalyAction(cur.Action)
	if action != taken {
		return action > taken
	}
	if f.Actionable == cur.NotActionable {
		return f.Actionable
	}
	return action == policy.AnomalyAlert && f.At.After(cur.At)
}

// showAnomaly copies the ledger's finding, as published, into
// status.anomaly and the Anomalous condition. It runs after publishRecord:
// status never shows a finding the ledger does not hold. (A revocation
// drops the ledger with the secrets, so it reads what applyAnomaly saw.)
func (r *APIKeyReconciler) showAnomaly(_ context.Context, s *apiKeyState) (ctrl.Result, error) {
	s.takenFindings = nil
	if !s.anomalyRead {
		return ctrl.Result{}, nil
	}
	st := &s.key.Status
	a := s.anomaly
	switch {
	case a != nil:
		var notified *metav1.Time
		if st.Anomaly != nil && st.Anomaly.ID == a.ID {
			notified = st.Anomaly.NotifiedTime
		}
		st.Anomaly = &keywardv1.AnomalyStatus{
			ID: a.ID, Detector: a.Detector, Reason: a.Reason, Message: truncate(a.Message, 1024),
			DetectedTime: metav1.Time{Time: a.At}, Action: keywardv1.AnomalyAction(a.Action), NotActionable: a.NotActionable,
			NotifiedTime: notified,
		}
		s.setCondition(keywardv1.AnomalousCondition, metav1.ConditionTrue, a.Reason, anomalyMessage(s.key.Spec.Owner+"/"+st.KeyID, a))
	case s.anomalyAcknowledged != nil:
		st.Anomaly = nil
		s.setCondition(keywardv1.AnomalousCondition, metav1.ConditionFalse, keywardv1.AnomalyAcknowledgedReason,
			fmt.Sprintf("Finding %s (%s) was acknowledged.", s.anomalyAcknowledged.ID, s.anomalyAcknowledged.Reason))
	default:
		st.Anomaly = nil
		if c := s.condition(s.key, keywardv1.AnomalousCondition); c != nil && c.Status == metav1.ConditionTrue {
			s.setCondition(keywardv1.AnomalousCondition, metav1.ConditionFalse, keywardv1.NoAnomalyReason,
				"No current finding: the last one only alerted and is older than a day.")
		}
	}
	return ctrl.Result{}, nil
}

// anomalyMessage is the Anomalous condition's, the Event's and the
// CloudEvent's text: what was seen, what keyward did, what to do.
func anomalyMessage(prefix string, a *record.Anomaly) string {
	msg := fmt.Sprintf("The %s detector flagged key %s (%s): %s", a.Detector, prefix, a.Reason, sentence(a.Message))
	switch a.Action {
	case string(keywardv1.AnomalyRevoke):
		msg += fmt.Sprintf(" keyward revoked the key for good (anomalyResponse of the %s detector: Revoke); create a new APIKey.", a.ActionBy)
	case string(keywardv1.AnomalySuspend):
		if a.ActionBy != a.Detector {
			msg += fmt.Sprintf(" The key stays suspended from an earlier finding of the %s detector.", a.ActionBy)
		} else {
			msg += " keyward suspended the key (anomalyResponse: Suspend)."
		}
		msg += fmt.Sprintf(" To lift the suspension after checking, set the annotation %s=%s.", keywardv1.AcknowledgeAnomalyAnnotation, a.ID)
	default:
		if a.NotActionable {
			msg += " Only an alert, whatever the policy says: requests that did not prove the key's secret could have caused this, and anyone who knows the key ID can send those."
		}
		msg += fmt.Sprintf(" The key keeps working. To acknowledge, set the annotation %s=%s; the alert clears on its own after %d hours.",
			keywardv1.AcknowledgeAnomalyAnnotation, a.ID, int(AnomalyAlertLifetime.Hours()))
	}
	switch {
	case a.Later == 1:
		msg += fmt.Sprintf(" A later finding, %s of the %s detector at %s, did not replace this one.",
			a.LastLater.Reason, a.LastLater.Detector, a.LastLater.At.UTC().Format(time.RFC3339))
	case a.Later > 1:
		msg += fmt.Sprintf(" %d later findings did not replace this one, the last %s of the %s detector at %s.",
			a.Later, a.LastLater.Reason, a.LastLater.Detector, a.LastLater.At.UTC().Format(time.RFC3339))
	}
	return msg
}

// sentence ends a detector's message with a full stop, as the sentences
// that follow it in a condition, an Event or a CloudEvent need: the
// detectors' messages (package analytics) end without one.
func sentence(msg string) string {
	if msg == "" || strings.HasSuffix(msg, ".") {
		return msg
	}
	return msg + "."
}

// truncate cuts s to at most n bytes, never inside a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// announceAnomaly sends the current finding to the notification sink once
// (status.anomaly.notifiedTime); a failure is retried with the workqueue's
// backoff and never holds back the action, which publishRecord wrote. A
// status write that fails after the sending sends it again, under the same
// CloudEvent id (the finding's), so the sink can tell it is the same.
func (r *APIKeyReconciler) announceAnomaly(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	st := s.key.Status.Anomaly
	if st == nil || st.NotifiedTime != nil || r.Notifier == nil {
		return ctrl.Result{}, nil
	}
	err := r.Notifier.Send(ctx, notify.AnomalousType, notify.Warning{
		KeyID: s.key.Status.KeyID, Owner: s.key.Spec.Owner, Namespace: s.key.Namespace, Name: s.key.Name,
		At: st.DetectedTime.Time, Message: s.anomalyText(), Action: string(st.Action), Detector: st.Detector, Reason: st.Reason,
		EventID: "anomaly-" + st.ID,
	})
	if err != nil {
		notificationFailuresTotal.Inc()
		return ctrl.Result{}, fmt.Errorf("sending the %s notification: %w", notify.AnomalousType, err)
	}
	notificationsTotal.Inc()
	st.NotifiedTime = &metav1.Time{Time: s.now}
	return ctrl.Result{}, nil
}

// anomalyText is the Anomalous condition's message while it is True.
func (s *apiKeyState) anomalyText() string {
	if c := s.condition(s.key, keywardv1.AnomalousCondition); c != nil && c.Status == metav1.ConditionTrue {
		return c.Message
	}
	return ""
}

// announceAnomalyTransitions emits the Event and audit line of a finding
// when the status write that first shows it succeeded, and of its
// acknowledgement: once per finding, like every transition. (An edit of
// status.anomaly, which keyward writes back, repeats them; nothing a
// tenant can write suppresses them.)
func (r *APIKeyReconciler) announceAnomalyTransitions(s *apiKeyState) {
	old, cur := s.original.Status.Anomaly, s.key.Status.Anomaly
	if cur != nil && (old == nil || old.ID != cur.ID) {
		r.emit(s, corev1.EventTypeWarning, keywardv1.KeyAnomalousReason, audit.Anomalous, string(cur.Action), s.anomalyText())
	}
	if a := s.anomalyAcknowledged; a != nil && cur == nil {
		msg := fmt.Sprintf("Finding %s of key %s/%s (%s) was acknowledged.", a.ID, s.key.Spec.Owner, s.key.Status.KeyID, a.Reason)
		if a.Action == string(keywardv1.AnomalySuspend) {
			msg += " The suspension is lifted; the verifier accepts the key again."
		}
		r.emit(s, corev1.EventTypeNormal, keywardv1.AnomalyAcknowledgedReason, audit.AnomalyAcknowledged, "Acknowledge", msg)
	}
}
