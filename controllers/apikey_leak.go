package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/leak"
	"github.com/keyward-dev/keyward/internal/notify"
	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/internal/record"
)

// applyLeak acts on the verified leak reports of the key, which the
// verifier writes into its namespace (internal/leak): only keyward writes
// there, so a tenant can neither forge a report nor remove one. The action
// is decided once, when status first records the leak, from the
// KeyPolicies' spec.leakedKeys, and holds whatever the spec says later:
// Revoke revokes the key; Suspend denies it while a leaked secret is its
// current (or next) one, and drops a leaked secret a rotation has replaced
// without its grace period.
func (r *APIKeyReconciler) applyLeak(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	if s.key.Status.KeyID == "" {
		return ctrl.Result{}, nil
	}
	reports, err := r.leakReports(ctx, s.key.Status.KeyID)
	if err != nil {
		return ctrl.Result{}, err
	}
	if newest := newestLeak(reports); newest != nil {
		// An action once decided holds: a later report of another of the
		// key's secrets changes neither it nor what status says of it.
		if st := s.key.Status.Leak; st == nil || (st.Action == keywardv1.LeakActionNone && newest.ReportedAt.After(st.ReportedTime.Time)) {
			s.key.Status.Leak = &keywardv1.LeakStatus{
				URL: newest.URL, Source: newest.Source,
				ReportedTime: metav1.Time{Time: newest.ReportedAt}, Action: s.leakAction(),
			}
		}
	}
	st := s.key.Status.Leak
	if st == nil {
		return ctrl.Result{}, nil
	}
	if st.Action != keywardv1.LeakActionNone && s.want != nil {
		// Tokens got with the leaked secret before the report must not
		// outlive the suspension, nor the key's next secret.
		nb := st.ReportedTime.Time
		if s.want.TokensNotBefore == nil || s.want.TokensNotBefore.Before(nb) {
			s.want.TokensNotBefore = &nb
		}
	}
	prefix := s.key.Spec.Owner + "/" + s.key.Status.KeyID
	switch st.Action {
	case keywardv1.LeakActionRevoke:
		s.revokeBy(keywardv1.LeakedReason, fmt.Sprintf("Key %s was found published%s and is revoked for good; create a new APIKey.", prefix, at(st.URL)))
	case keywardv1.LeakActionSuspend:
		s.leakedSerials = map[string]bool{}
		for _, rep := range reports {
			s.leakedSerials[rep.Serial] = true
		}
		if s.want == nil || s.want.Ledger == nil || s.state == record.Revoked || s.state == record.Expired {
			return ctrl.Result{}, nil
		}
		l := s.want.Ledger
		for _, serial := range l.LeakedSerials {
			s.leakedSerials[serial] = true
		}
		if l.Previous != "" && s.leakedSerials[l.Previous] {
			s.want.Secrets = deleteSerial(s.want.Secrets, l.Previous)
			l.Previous = ""
		}
		l.LeakedSerials = heldSerials(s.want, s.leakedSerials)
		s.leakHitsCurrent = s.leakedSerials[l.Current] || s.leakedSerials[l.Next]
		if s.leakHitsCurrent {
			// Only the leak may be rotated away: a key suspended for
			// another reason (its spec, a parent, a policy) waits for that.
			s.leakSuspended = s.state == record.Active
			s.suspendBy(keywardv1.LeakedReason, fmt.Sprintf("Key %s was found published%s and is suspended until its next rotation (spec.rotation.trigger or the keyward.dev/rotate annotation); the leaked secret never verifies again.", prefix, at(st.URL)))
		}
	}
	return ctrl.Result{}, nil
}

// heldSerials are the leaked serials the record still holds, sorted: a
// secret a rotation dropped never comes back, so it need not be kept.
func heldSerials(rec *record.Record, leaked map[string]bool) []string {
	var out []string
	for _, sec := range rec.Secrets {
		if leaked[sec.Serial] {
			out = append(out, sec.Serial)
		}
	}
	if l := rec.Ledger; l.Current != "" && leaked[l.Current] && !slices.Contains(out, l.Current) {
		out = append(out, l.Current)
	}
	slices.Sort(out)
	return out
}

func at(url string) string {
	if url == "" {
		return ""
	}
	return " at " + url
}

// leakAction is what the key's KeyPolicies say to do with a leak, unless
// the key is past being used.
func (s *apiKeyState) leakAction() keywardv1.LeakAction {
	switch {
	case s.state == record.Revoked || s.state == record.Expired:
		return keywardv1.LeakActionNone
	case s.suspendLeaked:
		return keywardv1.LeakActionSuspend
	}
	return keywardv1.LeakActionRevoke
}

// suspendLeakedKeys: every policy that applies says Suspend; otherwise,
// and without any policy, a leaked key is revoked.
func suspendLeakedKeys(rules []policy.Rules) bool {
	for _, r := range rules {
		if !r.SuspendLeakedKeys {
			return false
		}
	}
	return len(rules) > 0
}

// leakReports are the valid reports of keyID. A report that does not
// decode, or names another key than its label, is no report: the verifier
// writes neither.
func (r *APIKeyReconciler) leakReports(ctx context.Context, keyID string) ([]leak.Report, error) {
	list := &corev1.ConfigMapList{}
	if err := r.Client.List(ctx, list, client.InNamespace(r.VerifierNamespace),
		client.MatchingLabels{leak.Label: "true", record.KeyIDLabel: keyID}); err != nil {
		return nil, err
	}
	var out []leak.Report
	for i := range list.Items {
		rep, err := leak.Decode([]byte(list.Items[i].Data[leak.DataKey]))
		if err != nil || rep.KeyID != keyID || list.Items[i].Name != leak.Name(rep.KeyID, rep.Serial) {
			logf.FromContext(ctx).Info("ignoring a leak report that does not decode or names another key", "configMap", list.Items[i].Name)
			continue
		}
		out = append(out, rep)
	}
	return out, nil
}

func newestLeak(reports []leak.Report) *leak.Report {
	var newest *leak.Report
	for i := range reports {
		if newest == nil || reports[i].ReportedAt.After(newest.ReportedAt) {
			newest = &reports[i]
		}
	}
	return newest
}

// announceLeak sends the leak to the notification sink once; a failure
// is retried with the workqueue's backoff and never holds back the
// revocation, which publishRecord has written before.
func (r *APIKeyReconciler) announceLeak(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	st := s.key.Status.Leak
	if st == nil || st.NotifiedTime != nil || st.Action == keywardv1.LeakActionNone || r.Notifier == nil {
		return ctrl.Result{}, nil
	}
	err := r.Notifier.Send(ctx, notify.LeakedType, notify.Warning{
		KeyID: s.key.Status.KeyID, Owner: s.key.Spec.Owner, Namespace: s.key.Namespace, Name: s.key.Name,
		At: st.ReportedTime.Time, Message: leakMessage(s.key, s.leakHitsCurrent), URL: st.URL, Action: string(st.Action),
	})
	if err != nil {
		notificationFailuresTotal.Inc()
		return ctrl.Result{}, fmt.Errorf("sending the %s notification: %w", notify.LeakedType, err)
	}
	notificationsTotal.Inc()
	st.NotifiedTime = &metav1.Time{Time: s.now}
	return ctrl.Result{}, nil
}

// leakMessage is the Event's and the notification's text.
// hitsCurrent: under Suspend, the leaked secret was the key's current
// (or next) one, so the key is suspended.
func leakMessage(key *keywardv1.APIKey, hitsCurrent bool) string {
	st := key.Status.Leak
	prefix := key.Spec.Owner + "/" + key.Status.KeyID
	when := st.ReportedTime.UTC().Format(time.RFC3339)
	switch st.Action {
	case keywardv1.LeakActionRevoke:
		return fmt.Sprintf("Key %s was found published%s (reported %s): keyward revoked it for good. Create a new APIKey and remove the key from where it was published.", prefix, at(st.URL), when)
	case keywardv1.LeakActionSuspend:
		if !hitsCurrent {
			return fmt.Sprintf("Key %s was found published%s (reported %s): the leaked secret was no longer the key's current one, and keyward dropped it at once; the current secret keeps working. Remove the key from where it was published.", prefix, at(st.URL), when)
		}
		return fmt.Sprintf("Key %s was found published%s (reported %s): keyward suspended it until its next rotation. Rotate it and remove the key from where it was published.", prefix, at(st.URL), when)
	}
	return fmt.Sprintf("Key %s was found published%s (reported %s); it had already expired or been revoked, so nothing changed.", prefix, at(st.URL), when)
}

// apiKeyOfLeak enqueues the APIKey a leak report names.
func (r *APIKeyReconciler) apiKeyOfLeak(ctx context.Context, o client.Object) []reconcile.Request {
	if req, ok := r.apiKeyOfKeyID(ctx, o.GetLabels()[record.KeyIDLabel]); ok {
		return []reconcile.Request{req}
	}
	return nil
}
