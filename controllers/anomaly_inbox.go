package controllers

import (
	"context"
	"slices"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/keyward-dev/keyward/internal/analytics"
)

// MaxAnomalyInboxKeys bounds the keys whose findings wait in the inbox: a
// burst of findings beyond it (an attack on many key IDs at once) drops
// the excess, counted in keyward_anomaly_findings_dropped_total, rather
// than grow the manager's memory.
const MaxAnomalyInboxKeys = 10000

// AnomalyInbox hands the usage aggregator's findings to the APIKey
// controller: Report holds each key's findings, one per detector, and
// wakes the key's reconcile, which takes them all. The findings are
// persisted by that reconcile (the key record's ledger), so the inbox only
// has to hold them until then.
//
// One finding per detector, not one per key: the detectors of one minute
// report in a fixed order, Denials last, and a denial spike that anyone
// knowing the key ID can cause must not hide the same minute's new
// country of a thief using the key.
type AnomalyInbox struct {
	mu      sync.Mutex
	maxKeys int
	pending map[string]map[analytics.Detector]analytics.Finding
	// queued are the key IDs sent on wake and not yet mapped to their
	// APIKey: a key is queued at most once, so wake, as large as the
	// inbox, never blocks Report.
	queued map[string]bool
	wake   chan event.TypedGenericEvent[string]
}

// NewAnomalyInbox returns an empty inbox of MaxAnomalyInboxKeys keys.
func NewAnomalyInbox() *AnomalyInbox { return newAnomalyInbox(MaxAnomalyInboxKeys) }

func newAnomalyInbox(maxKeys int) *AnomalyInbox {
	return &AnomalyInbox{
		maxKeys: maxKeys, pending: map[string]map[analytics.Detector]analytics.Finding{}, queued: map[string]bool{},
		wake: make(chan event.TypedGenericEvent[string], maxKeys),
	}
}

// Report is the usage aggregator's callback. A finding waits beside the
// key's findings of other detectors; of one detector's, the one that
// outranks the other waits.
func (b *AnomalyInbox) Report(f analytics.KeyFinding) {
	if b.put(f.KeyID, f.Finding) {
		anomalyFindingsTotal.WithLabelValues(string(f.Detector)).Inc()
	}
}

// outranks reports whether finding a, waiting, should keep its place
// against b of the same detector: one that only someone with the key's
// secret could cause beats one anyone could, then the newer wins.
func outranks(a, b analytics.Finding) bool {
	if a.Actionable != b.Actionable {
		return a.Actionable
	}
	return a.At.After(b.At)
}

// put holds f for keyID and wakes its reconcile; false when the inbox is
// full.
func (b *AnomalyInbox) put(keyID string, f analytics.Finding) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.putLocked(keyID, f)
}

// putLocked is put under b.mu, which a caller may hold to put several
// findings before the key's reconcile can take any.
func (b *AnomalyInbox) putLocked(keyID string, f analytics.Finding) bool {
	waiting, ok := b.pending[keyID]
	if !ok {
		if len(b.pending) >= b.maxKeys {
			anomalyFindingsDroppedTotal.Inc()
			return false
		}
		waiting = map[analytics.Detector]analytics.Finding{}
		b.pending[keyID] = waiting
	}
	if w, ok := waiting[f.Detector]; !ok || !outranks(w, f) {
		waiting[f.Detector] = f
	}
	if !b.queued[keyID] {
		b.queued[keyID] = true
		b.wake <- event.TypedGenericEvent[string]{Object: keyID}
	}
	return true
}

// take removes and returns the findings waiting for keyID, oldest first
// (the detectors' order within a minute), so that recording them in turn
// is the same whatever order they were reported in.
func (b *AnomalyInbox) take(keyID string) []analytics.Finding {
	b.mu.Lock()
	waiting := b.pending[keyID]
	delete(b.pending, keyID)
	b.mu.Unlock()
	out := make([]analytics.Finding, 0, len(waiting))
	for _, f := range waiting {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b analytics.Finding) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return slices.Index(analytics.Detectors, a.Detector) - slices.Index(analytics.Detectors, b.Detector)
	})
	return out
}

// putBack returns taken findings whose reconcile failed before the ledger
// held them: each waits again unless one of its detector that outranks it
// came meanwhile.
func (b *AnomalyInbox) putBack(keyID string, fs []analytics.Finding) {
	for _, f := range fs {
		b.put(keyID, f)
	}
}

// source enqueues the APIKey of each key ID reported. A key ID that names
// no APIKey (deleted since) drops its finding.
func (b *AnomalyInbox) source(apiKeyOf func(context.Context, string) (reconcile.Request, bool)) source.Source {
	return source.Channel(b.wake, handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, keyID string) []reconcile.Request {
		b.mu.Lock()
		delete(b.queued, keyID)
		b.mu.Unlock()
		req, ok := apiKeyOf(ctx, keyID)
		if !ok {
			b.take(keyID)
			return nil
		}
		return []reconcile.Request{req}
	}))
}
