package controllers

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
)

// usageQuietWriteEvery is how often at most status.usage of a key is
// written when no verified request of it was committed since its last
// write: what changed is then only denials of requests that merely named
// the key (which anyone who read its ID can cause, one write a minute per
// key ID otherwise) or the windows moving on.
const usageQuietWriteEvery = time.Hour

var usageWritesDeferredTotal = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "keyward_usage_status_writes_deferred_total",
	Help: "status.usage writes a pass left to the next for its bound on writes (--usage-max-writes-per-pass).",
})

func init() { metrics.Registry.MustRegister(usageWritesDeferredTotal) }

// usageWrite is a status.usage that differs from what the key shows.
type usageWrite struct {
	id       string
	key      *keywardv1.APIKey
	status   *keywardv1.UsageStatus
	verified bool
	lastAt   time.Time
}

// noteCommitted remembers that a key's verified requests moved its summary.
func (a *UsageAggregator) noteCommitted(id string, m analytics.Minute) {
	if m.Verified() > 0 {
		a.verifiedSince[id] = struct{}{}
	}
}

// writeStatuses applies status.usage of the known keys whose summary is
// not what their status shows: at most one write per key per pass, at most
// MaxWritesPerPass in all, keys with verified requests since their last
// write first (the longest unwritten first among equals), the others at
// most every usageQuietWriteEvery. What the budget leaves over is written
// by the next passes.
func (a *UsageAggregator) writeStatuses(ctx context.Context, now time.Time) {
	log := logf.FromContext(ctx)
	var due []usageWrite
	for id := range a.known {
		key, err := apiKeyOfID(ctx, a.Client, id)
		if err != nil {
			log.Error(err, "looking up a key by its ID", "keyID", id)
			continue
		}
		if !inUse(key) {
			a.forget(id)
			continue
		}
		summary, ok := a.Store.Summary(id, now)
		if !ok {
			// The Store let it go (its bound on keys): it has nothing
			// to say until the key is seen again.
			a.drop(id)
			continue
		}
		w := usageWrite{id: id, key: key, status: usageStatus(summary), lastAt: a.writtenAt[id]}
		_, w.verified = a.verifiedSince[id]
		if usageShown(key, w.status) {
			delete(a.verifiedSince, id)
			continue
		}
		if w.verified || now.Sub(w.lastAt) >= usageQuietWriteEvery {
			due = append(due, w)
		}
	}
	slices.SortFunc(due, func(x, y usageWrite) int {
		if x.verified != y.verified {
			if x.verified {
				return -1
			}
			return 1
		}
		return cmp.Or(x.lastAt.Compare(y.lastAt), cmp.Compare(x.id, y.id))
	})
	limit := cmp.Or(a.MaxWritesPerPass, DefaultUsageMaxWritesPerPass)
	if len(due) > limit {
		usageWritesDeferredTotal.Add(float64(len(due) - limit))
		due = due[:limit]
	}
	for _, w := range due {
		if err := applyUsage(ctx, a.Client, w.key, w.status); err != nil {
			log.Error(err, "writing status.usage", "apiKey", client.ObjectKeyFromObject(w.key).String())
			continue
		}
		a.writtenAt[w.id] = now
		delete(a.verifiedSince, w.id)
	}
}
