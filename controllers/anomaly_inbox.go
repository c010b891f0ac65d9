package controllers

import (
	"context"
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
// controller: Report keeps the latest finding of each key and wakes the
// key's reconcile, which takes it. The finding is persisted by that
// reconcile (the key record's ledger), so the inbox only has to hold it
// until then.
type AnomalyInbox struct {
	mu      sync.Mutex
	maxKeys int
	latest  map[string]analytics.Finding
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
		maxKeys: maxKeys, latest: map[string]analytics.Finding{}, queued: map[string]bool{},
		wake: make(chan event.TypedGenericEvent[string], maxKeys),
	}
}

// Report is the usage aggregator's callback. A later finding of a key
// replaces one not yet taken: the reconcile that takes it compares it with
// the ledger's, so nothing stricter is lost (the ledger keeps the strictest
// action taken).
func (b *AnomalyInbox) Report(f analytics.KeyFinding) {
	if b.put(f.KeyID, f.Finding) {
		anomalyFindingsTotal.WithLabelValues(string(f.Detector)).Inc()
	}
}

// put holds f for keyID and wakes its reconcile; false when the inbox is
// full.
func (b *AnomalyInbox) put(keyID string, f analytics.Finding) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.latest[keyID]; !ok && len(b.latest) >= b.maxKeys {
		anomalyFindingsDroppedTotal.Inc()
		return false
	}
	b.latest[keyID] = f
	if !b.queued[keyID] {
		b.queued[keyID] = true
		b.wake <- event.TypedGenericEvent[string]{Object: keyID}
	}
	return true
}

// take removes and returns the finding waiting for keyID.
func (b *AnomalyInbox) take(keyID string) (analytics.Finding, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.latest[keyID]
	delete(b.latest, keyID)
	return f, ok
}

// putBack returns a taken finding whose reconcile failed before the
// ledger held it, unless a newer one came meanwhile.
func (b *AnomalyInbox) putBack(keyID string, f analytics.Finding) {
	b.mu.Lock()
	_, newer := b.latest[keyID]
	b.mu.Unlock()
	if !newer {
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
