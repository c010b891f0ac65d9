package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/usage"
)

// A replica whose report left keys out (its room filled by others, say)
// makes the minutes it covers incomplete in the Store before they are
// committed or ticked; a complete report marks nothing.
func TestUsageTellsTheStoreWhichMinutesLackKeys(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "crowded"))
	deleteAtEnd(t, key)
	later := usageT0.Add(time.Hour)
	complete := map[string][]analytics.Minute{key.Status.KeyID: {{Start: later, Permits: 1}}}
	waitCached(g, activityReport(t, g, verifierNamespace, "verifier-a-"+ns, reportLabels,
		usage.ActivityReport{ReportedAt: later.Add(30 * time.Second), Keys: complete}))
	waitCached(g, activityReport(t, g, verifierNamespace, "verifier-b-"+ns, reportLabels,
		usage.ActivityReport{ReportedAt: usageT0.Add(2*time.Minute + 10*time.Second), Keys: map[string][]analytics.Minute{}, Omitted: 400}))

	h := newUsageHarness(t, embedded, usageT0)
	h.passAt(usageT0.Add(3 * time.Minute))
	g.Expect(h.store.incompleteMinutes()).To(ContainElements(usageT0, usageT0.Add(time.Minute), usageT0.Add(2*time.Minute)))
	g.Expect(h.store.incompleteMinutes()).NotTo(ContainElement(later), "the complete report's minute")
}
