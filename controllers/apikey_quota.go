package controllers

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/usage"
)

// The manager reads the verifiers' usage reports. It also holds every verb
// the verifier's Role grants on ConfigMaps, because the API server lets
// nobody grant what they do not hold.
//
// +kubebuilder:rbac:groups="",namespace=verifier,resources=configmaps,verbs=list;watch;create;patch

// reportQuota copies into status.quota what the verifiers last reported of
// the key's quota. With a shared counter store (Redis) every replica
// reports the same numbers; with in-memory counting each replica counts on
// its own and the status shows the newest report of any of them.
func (r *APIKeyReconciler) reportQuota(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	rl := s.key.Spec.RateLimit
	if rl == nil || rl.Quota == nil {
		s.key.Status.Quota = nil
		return ctrl.Result{}, nil
	}
	if s.key.Status.KeyID == "" {
		return ctrl.Result{}, nil
	}
	latest, reportedAt, err := r.usage.latest(ctx, r.Client, r.VerifierNamespace, s.key.Status.KeyID)
	if err != nil {
		return ctrl.Result{}, err
	}
	q := s.key.Status.Quota.DeepCopy()
	if latest != nil && (q == nil || q.ResetTime == nil || usage.Newer(*latest, statusEntry(q), reportedAt, timeOf(q.ReportedTime))) {
		q = &keywardv1.QuotaStatus{
			Used: latest.Used, Remaining: latest.Remaining,
			ResetTime: &metav1.Time{Time: latest.ResetAt}, ReportedTime: &metav1.Time{Time: reportedAt},
		}
	}
	if q == nil || q.ResetTime == nil {
		return ctrl.Result{}, nil
	}
	if !s.now.Before(q.ResetTime.Time) {
		// The period is over and no verifier has counted in the new one:
		// the credits are whole again, and saying so spares the owner a
		// stale zero.
		loc, err := time.LoadLocation(rl.Quota.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		q.Used, q.Remaining = 0, rl.Quota.Credits
		q.ResetTime = &metav1.Time{Time: ratelimit.QuotaPeriodEnd(ratelimit.Refill(rl.Quota.Refill), loc, s.now)}
	}
	s.key.Status.Quota = q
	return ctrl.Result{RequeueAfter: q.ResetTime.Sub(s.now)}, nil
}

// statusEntry is status.quota as a report entry, to compare with reports:
// a report older than what the status shows (from a replica that has been
// idle, while the one that reported later has gone) must not undo it.
func statusEntry(q *keywardv1.QuotaStatus) usage.Entry {
	return usage.Entry{Used: q.Used, Remaining: q.Remaining, ResetAt: q.ResetTime.Time}
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// announceQuota emits an Event when the key's quota runs out. Other usage
// changes are not transitions and go only into status.
func (r *APIKeyReconciler) announceQuota(s *apiKeyState) {
	before, after := s.original.Status.Quota, s.key.Status.Quota
	if after == nil || after.Remaining != 0 || after.ResetTime == nil {
		return
	}
	// Once per period: a key may run out before its first report, and run
	// out again in the next period.
	if before != nil && before.Remaining == 0 && before.ResetTime != nil && before.ResetTime.Equal(after.ResetTime) {
		return
	}
	r.Recorder.Eventf(s.key, nil, corev1.EventTypeWarning, keywardv1.QuotaExhaustedReason, "Limit",
		"Key %s/%s has spent its quota of %d credits; requests are refused until %s.",
		s.key.Spec.Owner, s.key.Status.KeyID, after.Used+after.Remaining, after.ResetTime.UTC().Format(time.RFC3339))
}

// usageReports decodes each replica's report once per version, however
// many keys' reconciles read it: a full report is some 240 KB of JSON.
type usageReports struct {
	mu      sync.Mutex
	decoded map[types.UID]decodedReport
}

type decodedReport struct {
	resourceVersion string
	report          usage.Report
	ok              bool
}

// report decodes a usage ConfigMap, or says it holds no usable report.
// keep remembers the result for the ConfigMap's UID; an update's old
// object, seen once, is not kept in place of the new one.
func (u *usageReports) report(ctx context.Context, cm *corev1.ConfigMap, keep bool) (usage.Report, bool) {
	u.mu.Lock()
	d, found := u.decoded[cm.UID]
	u.mu.Unlock()
	if found && d.resourceVersion == cm.ResourceVersion {
		return d.report, d.ok
	}
	rep, err := usage.Decode([]byte(cm.Data[usage.DataKey]))
	if err != nil {
		logf.FromContext(ctx).Info("ignoring a usage report that does not decode", "configMap", cm.Name, "error", err.Error())
	}
	if keep {
		u.mu.Lock()
		if u.decoded == nil {
			u.decoded = map[types.UID]decodedReport{}
		}
		u.decoded[cm.UID] = decodedReport{resourceVersion: cm.ResourceVersion, report: rep, ok: err == nil}
		u.mu.Unlock()
	}
	return rep, err == nil
}

// latest is the newest entry for keyID among every replica's report.
func (u *usageReports) latest(ctx context.Context, c client.Reader, namespace, keyID string) (*usage.Entry, time.Time, error) {
	list := &corev1.ConfigMapList{}
	// Read-only use of the cache's objects: copying every report for every
	// key would cost more than decoding them.
	if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{usage.Label: "true"},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, time.Time{}, err
	}
	var best *usage.Entry
	var bestAt time.Time
	live := make(map[types.UID]bool, len(list.Items))
	for i := range list.Items {
		live[list.Items[i].UID] = true
		rep, ok := u.report(ctx, &list.Items[i], true)
		if !ok {
			continue
		}
		if e, found := rep.Keys[keyID]; found && (best == nil || usage.Newer(e, *best, rep.ReportedAt, bestAt)) {
			best, bestAt = &e, rep.ReportedAt
		}
	}
	u.forgetAllBut(live)
	return best, bestAt, nil
}

func (u *usageReports) forgetAllBut(live map[types.UID]bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for uid := range u.decoded {
		if !live[uid] {
			delete(u.decoded, uid)
		}
	}
}

// usageHandler enqueues the keys whose entries a usage report changed, not
// every key it lists: most keys' usage stays the same between reports.
func (r *APIKeyReconciler) usageHandler() handler.EventHandler {
	enqueue := func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], before, after *corev1.ConfigMap) {
		var old, cur usage.Report
		if before != nil {
			old, _ = r.usage.report(ctx, before, false)
		}
		if after != nil {
			cur, _ = r.usage.report(ctx, after, true)
		}
		for _, id := range usage.Changed(old, cur) {
			if req, ok := r.apiKeyOfKeyID(ctx, id); ok {
				q.Add(req)
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, nil, asConfigMap(e.Object))
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, asConfigMap(e.ObjectOld), asConfigMap(e.ObjectNew))
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, asConfigMap(e.Object), nil)
		},
	}
}

func asConfigMap(o client.Object) *corev1.ConfigMap {
	cm, _ := o.(*corev1.ConfigMap)
	return cm
}

// apiKeyOfKeyID finds the APIKey of a key ID through its record, which
// names it; a key ID without a record belongs to no APIKey any more.
func (r *APIKeyReconciler) apiKeyOfKeyID(ctx context.Context, keyID string) (reconcile.Request, bool) {
	sec := &corev1.Secret{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.VerifierNamespace, Name: record.SecretName(keyID)}, sec); err != nil {
		return reconcile.Request{}, false
	}
	reqs := apiKeyOfRecord(ctx, sec)
	if len(reqs) != 1 {
		return reconcile.Request{}, false
	}
	return reqs[0], true
}
