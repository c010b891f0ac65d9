package controllers

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
)

// heldActivity is an ActivitySource of minutes the test adds.
type heldActivity struct {
	mu      sync.Mutex
	minutes map[string][]analytics.Minute
}

func (h *heldActivity) add(id string, m analytics.Minute) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.minutes == nil {
		h.minutes = map[string][]analytics.Minute{}
	}
	h.minutes[id] = append(h.minutes[id], m)
}

func (h *heldActivity) Minutes(_ context.Context, after, through time.Time) (map[string][]analytics.Minute, time.Time, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]analytics.Minute{}
	for id, list := range h.minutes {
		for _, m := range list {
			if m.Start.After(after) && !m.Start.After(through) {
				out[id] = append(out[id], m)
			}
		}
	}
	return out, through, nil
}

func wrongSecret(at time.Time) analytics.Minute {
	return analytics.Minute{Start: at, UnverifiedDenials: 1, Denials: map[string]uint32{"invalid_secret": 1}}
}

// Someone who read a key ID sends a wrong secret every minute: the key's
// summary moves every minute, its status.usage is written at most hourly,
// and shows those denials when it is; a verified request is written at
// the next pass.
func TestUsageWritesOfStrangersAtMostHourly(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "probed"))
	deleteAtEnd(t, key)
	id := key.Status.KeyID
	source := &heldActivity{}
	source.add(id, analytics.Minute{Start: usageT0, Permits: 5})
	h := newUsageHarness(t, func(client.Client) ActivitySource { return source }, usageT0)
	mark := h.writes.mark()
	h.passAt(usageT0.Add(2 * time.Minute))
	g.Expect(h.usageWrites(mark)).To(HaveLen(1), "the first summary")
	waitUsageCached(g, key)

	mark = h.writes.mark()
	// Passes at +3m to +61m, the last write at +2m.
	for i := 1; i <= 59; i++ {
		source.add(id, wrongSecret(usageT0.Add(time.Duration(i)*time.Minute)))
		h.passAt(usageT0.Add(time.Duration(i+2) * time.Minute))
	}
	g.Expect(h.store.committed(id)).To(HaveLen(60), "every minute committed")
	g.Expect(h.usageWrites(mark)).To(BeEmpty(), "nothing verified since the last write, less than an hour ago")

	source.add(id, wrongSecret(usageT0.Add(60*time.Minute)))
	h.passAt(usageT0.Add(62 * time.Minute))
	g.Expect(h.usageWrites(mark)).To(HaveLen(1), "an hour after the last write")
	shown := waitUsageCached(g, key)
	g.Expect(shown.LastDay.Denials).To(Equal(int64(60)), "the wrong secrets are shown")
	g.Expect(shown.LastDay.TopDenials).To(ContainElement(keywardv1.DenialCount{Reason: "invalid_secret", Count: 60}))

	mark = h.writes.mark()
	source.add(id, analytics.Minute{Start: usageT0.Add(61 * time.Minute), Permits: 1})
	h.passAt(usageT0.Add(63 * time.Minute))
	g.Expect(h.usageWrites(mark)).To(HaveLen(1), "a verified request is written at once")
	g.Expect(waitUsageCached(g, key).LastDay.Requests).To(Equal(int64(5 + 60 + 1)))
}

// A pass writes at most MaxWritesPerPass statuses, keys with verified
// requests first; the rest are written by the next passes, each once.
func TestUsageWriteBudgetPerPass(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	source := &heldActivity{}
	var used []*keywardv1.APIKey
	for _, name := range []string{"used-a", "used-b", "used-c"} {
		k := createReady(g, newAPIKey(ns, name))
		deleteAtEnd(t, k)
		used = append(used, k)
		source.add(k.Status.KeyID, analytics.Minute{Start: usageT0, Permits: 3})
	}
	probed := createReady(g, newAPIKey(ns, "probed"))
	deleteAtEnd(t, probed)
	source.add(probed.Status.KeyID, wrongSecret(usageT0))

	h := newUsageHarness(t, func(client.Client) ActivitySource { return source }, usageT0)
	h.agg.MaxWritesPerPass = 2
	mark := h.writes.mark()
	h.passAt(usageT0.Add(2 * time.Minute))
	first := h.usageWrites(mark)
	g.Expect(first).To(HaveLen(2))
	g.Expect(first).NotTo(ContainElement(ContainSubstring("/probed")), "verified keys first")
	for _, k := range used {
		waitUsageCached(g, k)
	}

	mark = h.writes.mark()
	h.passAt(usageT0.Add(3 * time.Minute))
	second := h.usageWrites(mark)
	g.Expect(second).To(HaveLen(2), "the verified key left over, then the probed one")
	g.Expect(second[1]).To(ContainSubstring("/probed"))
	for _, k := range append(used, probed) {
		g.Expect(waitUsageCached(g, k)).NotTo(BeNil())
	}

	mark = h.writes.mark()
	h.passAt(usageT0.Add(4 * time.Minute))
	g.Expect(h.usageWrites(mark)).To(BeEmpty(), "everything shown")
}
