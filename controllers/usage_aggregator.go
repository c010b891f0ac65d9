package controllers

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
)

// Defaults of the usage aggregator (`keyward manager` flags).
const (
	DefaultUsageInterval = time.Minute
	// DefaultUsageCloseAfter covers the verifiers' report interval and a
	// late report: a minute is read this long after it ended.
	DefaultUsageCloseAfter = 30 * time.Second
	// DefaultUsageMaxKeys bounds the keys whose history the manager keeps:
	// at about 3.3 KiB a key (analytics' TestMemoryPerKey), 20,000 keys
	// take some 64 MiB, a quarter of the manager's default memory limit.
	DefaultUsageMaxKeys = 20_000
	// DefaultUsageMaxWritesPerPass bounds the status.usage writes of one
	// pass: the manager client's default burst (--kube-api-burst 200), a
	// thirtieth of what its default 100 QPS allow in a one-minute pass,
	// so that reconciles and revocations keep the rest.
	DefaultUsageMaxWritesPerPass = 200
)

// UsageStore is what the aggregator needs of analytics.Store.
type UsageStore interface {
	Commit(keyID string, m analytics.Minute) []analytics.Finding
	Tick(now time.Time) []analytics.KeyFinding
	Summary(keyID string, now time.Time) (analytics.Summary, bool)
	Forget(keyID string)
	Incomplete(minute time.Time)
}

var _ UsageStore = (*analytics.Store)(nil)

// UsageAggregator turns the verifiers' activity into each key's history
// (Store), its status.usage and the detectors' findings. It runs on the
// leader only: the Store is in its memory, and one writer of status.usage
// is enough.
//
// Every Interval it commits the minutes that closed since the last pass,
// each once and in order, runs the absence detectors once a minute, and
// writes status.usage of the keys whose summary differs from what their
// status shows, so that a key nobody uses costs no write at all (see
// writeStatuses for what bounds the writes of keys that are used).
type UsageAggregator struct {
	// Client reads APIKeys from the cache (KeyIDIndex must be registered)
	// and applies status.usage.
	Client client.Client
	Clock  clock.WithTicker
	Store  UsageStore
	Source ActivitySource
	// Interval between passes; zero is DefaultUsageInterval.
	Interval time.Duration
	// CloseAfter is how long after its end a minute is read; zero is
	// DefaultUsageCloseAfter.
	CloseAfter time.Duration
	// MaxWritesPerPass bounds the status.usage writes of one pass; zero
	// is DefaultUsageMaxWritesPerPass. The keys left over are written by
	// the next passes.
	MaxWritesPerPass int
	// Findings receives every finding; nil logs them. It is called from
	// the pass, so it must not block (hand the finding on and return).
	Findings func(analytics.KeyFinding)

	// committed is the start of the last minute committed; zero before
	// the first pass.
	committed time.Time
	// ticked is the minute Store.Tick last ran in.
	ticked time.Time
	// known are the keys committed to the Store that it may still
	// summarise: the only keys whose status.usage can change.
	known map[string]struct{}
	// verifiedSince are the known keys with a verified request committed
	// since their status.usage was last written.
	verifiedSince map[string]struct{}
	// writtenAt is when each known key's status.usage was last written.
	writtenAt map[string]time.Time
	// passes counts completed passes, for tests that wait for one.
	passes atomic.Int64
}

// UsageFieldOwner is the field manager of status.usage, apart from the
// reconciler's (FieldOwner), so that neither undoes the other's fields.
const UsageFieldOwner = "keyward-usage"

var (
	usageStatusWritesTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyward_usage_status_writes_total",
		Help: "status.usage writes of the usage aggregator.",
	})
	usageMinutesCommittedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyward_usage_minutes_committed_total",
		Help: "Closed minutes of one key's activity committed to the usage history.",
	})
	usageFindingsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_usage_findings_total",
		Help: "Anomalies the detectors found, by detector and reason.",
	}, []string{"detector", "reason"})
	usageReadFailuresTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyward_usage_read_failures_total",
		Help: "Passes of the usage aggregator that could not read all closed minutes (retried on the next pass).",
	})
)

func init() {
	metrics.Registry.MustRegister(usageStatusWritesTotal, usageMinutesCommittedTotal, usageFindingsTotal, usageReadFailuresTotal)
}

// Passes is how many passes have completed: a test or benchmark that steps
// the clock waits for the pass it caused.
func (a *UsageAggregator) Passes() int64 { return a.passes.Load() }

// NeedLeaderElection: only the leader aggregates.
func (a *UsageAggregator) NeedLeaderElection() bool { return true }

// Start runs a pass every Interval until ctx ends.
func (a *UsageAggregator) Start(ctx context.Context) error {
	if a.Client == nil || a.Store == nil || a.Source == nil || a.Clock == nil {
		return errors.New("usage aggregator: Client, Store, Source and Clock are required")
	}
	log := logf.FromContext(ctx).WithName("usage")
	ctx = logf.IntoContext(ctx, log)
	ticker := a.Clock.NewTicker(a.interval())
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
			a.pass(ctx)
		}
	}
}

func (a *UsageAggregator) interval() time.Duration {
	if a.Interval > 0 {
		return a.Interval
	}
	return DefaultUsageInterval
}

func (a *UsageAggregator) closeAfter() time.Duration {
	if a.CloseAfter > 0 {
		return a.CloseAfter
	}
	return DefaultUsageCloseAfter
}

// pass commits what closed, ticks the detectors and writes what changed.
// A failure is logged and the pass carries on with what it has: the next
// pass reads again what was not committed.
func (a *UsageAggregator) pass(ctx context.Context) {
	log := logf.FromContext(ctx)
	now := a.Clock.Now().UTC()
	if a.known == nil {
		a.known = map[string]struct{}{}
		a.verifiedSince = map[string]struct{}{}
		a.writtenAt = map[string]time.Time{}
	}
	a.markIncomplete(ctx)
	// The last minute that ended at least CloseAfter ago.
	through := now.Add(-a.closeAfter() - time.Minute).Truncate(time.Minute)
	if err := a.commitThrough(ctx, through); err != nil {
		usageReadFailuresTotal.Inc()
		log.Error(err, "reading the verifiers' activity failed")
	}
	if minute := now.Truncate(time.Minute); minute.After(a.ticked) {
		a.ticked = minute
		for _, f := range a.Store.Tick(now) {
			a.found(ctx, f)
		}
	}
	a.writeStatuses(ctx, now)
	a.passes.Add(1)
}

// commitThrough commits the closed minutes through through, as many reads
// of the source as it takes (a source may hand them over a part at a time
// to bound its memory), until one fails or brings nothing further.
func (a *UsageAggregator) commitThrough(ctx context.Context, through time.Time) error {
	for through.After(a.committed) {
		before := a.committed
		if err := a.commit(ctx, through); err != nil {
			return err
		}
		if !a.committed.After(before) {
			return nil
		}
	}
	return nil
}

// commit hands the Store the closed minutes the source gives, of keys
// that are in use: a minute of a key that no APIKey holds, or that was
// revoked, teaches nothing a person could act on.
func (a *UsageAggregator) commit(ctx context.Context, through time.Time) error {
	minutes, read, readErr := a.Source.Minutes(ctx, a.committed, through)
	for id, list := range minutes {
		key, err := apiKeyOfID(ctx, a.Client, id)
		if err != nil {
			return err
		}
		if !inUse(key) {
			a.forget(id)
			continue
		}
		for _, m := range list {
			if !m.Start.After(a.committed) || m.Start.After(read) {
				continue
			}
			usageMinutesCommittedTotal.Inc()
			for _, f := range a.Store.Commit(id, m) {
				a.found(ctx, analytics.KeyFinding{KeyID: id, Finding: f})
			}
			a.noteCommitted(id, m)
		}
		a.known[id] = struct{}{}
	}
	a.committed = read
	return readErr
}

func (a *UsageAggregator) found(ctx context.Context, f analytics.KeyFinding) {
	usageFindingsTotal.WithLabelValues(string(f.Detector), string(f.Reason)).Inc()
	if a.Findings != nil {
		a.Findings(f)
		return
	}
	logFinding(logf.FromContext(ctx), f)
}

func logFinding(log logr.Logger, f analytics.KeyFinding) {
	log.Info("anomaly found", "keyID", f.KeyID, "detector", f.Detector, "reason", f.Reason,
		"at", f.At, "actionable", f.Actionable, "message", f.Message)
}

// inUse: the key exists and is not revoked (a revocation sticks, so its
// history has no further use).
func inUse(key *keywardv1.APIKey) bool {
	return key != nil && key.DeletionTimestamp == nil && !key.Spec.Revoked && key.Status.RevokedTime == nil
}

func (a *UsageAggregator) forget(id string) {
	a.Store.Forget(id)
	a.drop(id)
}

// drop forgets what the aggregator holds of a key the Store let go.
func (a *UsageAggregator) drop(id string) {
	delete(a.known, id)
	delete(a.verifiedSince, id)
	delete(a.writtenAt, id)
}
