package verifier

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/usage"
)

// ActivityReporter publishes the activity this replica counts (the
// embedded aggregation): each key's latest usage.ActivityMinutes minutes,
// in a ConfigMap of its own beside the quota report, which the manager
// sums over the replicas once a minute is closed. Like the quota report it
// is written only when it changed, so an idle verifier writes nothing.
//
// A report holds the usage.MaxActivityKeys busiest keys (by verified
// requests, see activityRank) and counts the rest in Omitted: a ConfigMap
// must stay well below the 1 MiB an object may hold
// (TestActivityReportSizeAtMaxKeys measures it). The manager takes a report
// that omitted keys as an incomplete picture of its minutes, in which no
// key can be judged silent. An installation with more
// keys in use at once uses the Redis aggregation.
type ActivityReporter struct {
	Client    kubernetes.Interface
	Namespace string
	Replica   string
	PodUID    types.UID
	Verifier  *Verifier
	// Interval between reports; zero means DefaultUsageInterval.
	Interval time.Duration
	Clock    clock.WithTicker
	Log      logr.Logger

	// last is the content last written (the report without its time);
	// an empty report counts as written, so an idle replica never writes.
	last        []byte
	failing     bool
	omittedLogs bool
}

// Run reports every Interval until ctx ends; a failed write is logged once
// per run of failures and tried again at the next interval.
func (a *ActivityReporter) Run(ctx context.Context) error {
	name, err := usage.ActivityName(a.Replica)
	if err != nil {
		return err
	}
	if a.Clock == nil {
		a.Clock = clock.RealClock{}
	}
	everyInterval(ctx, a.Clock, a.Interval, func(ctx context.Context) { a.report(ctx, name) })
	return nil
}

func (a *ActivityReporter) report(ctx context.Context, name string) {
	r, data, err := fitActivity(a.Verifier.ActivityReport(usage.MaxActivityKeys))
	if err != nil {
		a.fail(err)
		return
	}
	if r.Omitted > 0 && !a.omittedLogs {
		a.Log.Info("more keys are in use than an activity report carries; the least used are left out of status.usage and anomaly detection (use analytics.aggregation: redis)",
			"reported", len(r.Keys), "omitted", r.Omitted)
		a.omittedLogs = true
	}
	content, err := activityContent(r)
	if err != nil {
		a.fail(err)
		return
	}
	if a.last == nil {
		a.last, _ = activityContent(usage.ActivityReport{ReportedAt: r.ReportedAt, Keys: map[string][]analytics.Minute{}})
	}
	if string(content) == string(a.last) {
		return
	}
	err = applyReport(ctx, a.Client, reportObject{
		Namespace: a.Namespace, Name: name, Replica: a.Replica, PodUID: a.PodUID,
		Labels: map[string]string{usage.ActivityLabel: "true", record.VerifierReportLabel: "true"},
		Data:   map[string]string{usage.ActivityDataKey: string(data)},
	})
	if err != nil {
		if ctx.Err() == nil {
			a.fail(fmt.Errorf("writing ConfigMap %s/%s: %w", a.Namespace, name, err))
		}
		return
	}
	if a.failing {
		a.Log.Info("reporting activity again", "configMap", name)
	}
	a.last, a.failing = content, false
}

// fitActivity encodes a report, leaving out its least busy keys until it
// fits in usage.MaxActivityBytes.
func fitActivity(r usage.ActivityReport) (usage.ActivityReport, []byte, error) {
	for {
		data, err := usage.EncodeActivity(r)
		if err != nil || len(data) <= usage.MaxActivityBytes {
			return r, data, err
		}
		ids := busiestFirst(r.Keys)
		keep := len(ids) * usage.MaxActivityBytes / len(data) * 9 / 10
		for _, id := range ids[keep:] {
			delete(r.Keys, id)
			r.Omitted++
		}
	}
}

// busiestFirst lists a report's keys by busier.
func busiestFirst(ks map[string][]analytics.Minute) []string {
	list := make([]activityRank, 0, len(ks))
	for id, minutes := range ks {
		r := activityRank{id: id}
		for _, m := range minutes {
			r.add(m.Verified(), m.Requests())
		}
		list = append(list, r)
	}
	slices.SortFunc(list, busier)
	ids := make([]string, len(list))
	for i, r := range list {
		ids[i] = r.id
	}
	return ids
}

// activityContent is a report without its time, to tell whether anything
// changed since the last write.
func activityContent(r usage.ActivityReport) ([]byte, error) {
	r.ReportedAt = time.Unix(0, 0)
	return usage.EncodeActivity(r)
}

func (a *ActivityReporter) fail(err error) {
	if !a.failing {
		a.Log.Error(err, "reporting activity failed; retrying every interval")
	}
	a.failing = true
}
