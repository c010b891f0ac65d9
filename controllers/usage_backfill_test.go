package controllers

import (
	"context"
	"runtime"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/internal/usage"
)

// measuredSource records the most key-minutes one read of its source
// held, and the most heap one read took.
type measuredSource struct {
	ActivitySource
	calls, mostKeyMinutes int
	mostHeap              int64
}

func (s *measuredSource) Minutes(ctx context.Context, after, through time.Time) (map[string][]analytics.Minute, time.Time, error) {
	before := heapInUse()
	out, read, err := s.ActivitySource.Minutes(ctx, after, through)
	s.calls++
	n := 0
	for _, l := range out {
		n += len(l)
	}
	s.mostKeyMinutes = max(s.mostKeyMinutes, n)
	s.mostHeap = max(s.mostHeap, int64(heapInUse())-int64(before))
	return out, read, err
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A manager that starts with Redis full of activity reads it back one
// minute at a time and commits each before it reads the next: what it
// holds is one minute's keys, whatever Redis keeps, and nothing older than
// usage.ActivityRetention is read.
func TestUsageRedisBackfillIsStreamed(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "backfill"))
	deleteAtEnd(t, key)
	rc := testutil.StartRedisServer(t).Client()
	const prefix = "keyward:rl:"
	now := time.Now().UTC().Truncate(time.Minute)
	retained := int(usage.ActivityRetention / time.Minute)

	// Strangers' wrong secrets for 3,000 key IDs in every minute, and the
	// key's own use, from before the retention until now.
	const others = 3000
	minutes := map[string][]analytics.Minute{}
	for range others {
		k, err := keys.Generate("")
		g.Expect(err).NotTo(HaveOccurred())
		minutes[k.ID()] = nil
	}
	for i := retained + 5; i > 0; i-- {
		at := now.Add(-time.Duration(i) * time.Minute)
		for id := range minutes {
			minutes[id] = []analytics.Minute{{Start: at, UnverifiedDenials: 1, Denials: map[string]uint32{"invalid_secret": 1}}}
		}
		minutes[key.Status.KeyID] = []analytics.Minute{{Start: at, Permits: 2}}
		g.Expect(usage.WriteActivity(context.Background(), rc, prefix, "verifier-a", minutes)).To(Succeed())
	}

	var source *measuredSource
	h := newUsageHarness(t, func(client.Client) ActivitySource {
		source = &measuredSource{ActivitySource: RedisActivity{Client: rc, Prefix: prefix}}
		return source
	}, now)
	h.passAt(now.Add(DefaultUsageCloseAfter))

	through := now.Add(-time.Minute)
	g.Expect(h.agg.committed).To(Equal(through))
	committed := h.store.committed(key.Status.KeyID)
	g.Expect(committed).To(HaveLen(retained), "every minute Redis keeps, none older")
	g.Expect(committed[0].Start).To(Equal(through.Add(-usage.ActivityRetention + time.Minute)))
	g.Expect(source.calls).To(BeNumerically(">=", retained))
	g.Expect(source.mostKeyMinutes).To(Equal(others+1), "one minute of every key per read")
	t.Logf("backfill of %d minutes of %d keys: at most %d key-minutes and %d KiB of heap held by one read",
		retained, others+1, source.mostKeyMinutes, source.mostHeap>>10)
	// All minutes at once would hold some 18 MiB (about 400 bytes a
	// key-minute).
	g.Expect(source.mostHeap).To(BeNumerically("<", 3<<20))
}
