package ratelimit

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchLimits never refuse in the benchmarks, so that every call takes
// the longest path: look up, refill, spend, describe.
var benchLimits = []Limit{
	{Name: "FixedWindow", Strategy: FixedWindow, Limit: 1 << 40, Period: time.Second},
	{Name: "SlidingWindow", Strategy: SlidingWindow, Limit: 1 << 40, Period: time.Second},
	{Name: "TokenBucket", Strategy: TokenBucket, Limit: 1 << 40, Period: time.Second},
	{Name: "Quota", Strategy: Quota, Limit: 1 << 40, Refill: Monthly, Location: mustZone("Europe/Berlin")},
}

// BenchmarkTakeAll is one request on a known bucket, the clock moving a
// microsecond per call, results appended to a reused slice.
func BenchmarkTakeAll(b *testing.B) {
	for _, l := range benchLimits {
		b.Run(l.Name, func(b *testing.B) {
			benchTake(b, []Request{{Key: "acme/key-1", Limit: l, Cost: 1}})
		})
	}
	b.Run("per-second and per-day on key and owner", func(b *testing.B) {
		perSecond := Limit{Name: "per-second", Strategy: TokenBucket, Limit: 1 << 40, Period: time.Second, Burst: 1 << 41}
		perDay := Limit{Name: "per-day", Strategy: Quota, Limit: 1 << 40, Refill: Daily}
		benchTake(b, []Request{
			{Key: "acme/key-1", Limit: perSecond, Cost: 1},
			{Key: "acme/key-1", Limit: perDay, Cost: 1},
			{Key: "owner/acme", Limit: perDay, Cost: 1},
		})
	})
	b.Run("refused", func(b *testing.B) {
		benchTake(b, []Request{{Key: "acme/key-1", Limit: Limit{Name: "tight", Strategy: SlidingWindow, Limit: 1, Period: time.Hour}, Cost: 1}})
	})
}

func benchTake(b *testing.B, reqs []Request) {
	m := newMemory(b, MemoryOptions{MaxBuckets: 1 << 16})
	ctx := context.Background()
	dst := make([]Result, 0, len(reqs))
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		var err error
		if dst, err = m.AppendTakeAll(ctx, dst[:0], now, reqs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTakeAllParallel: goroutines on keys of their own, sharing the
// store's shards.
func BenchmarkTakeAllParallel(b *testing.B) {
	l := benchLimits[2]
	m := newMemory(b, MemoryOptions{MaxBuckets: 1 << 16})
	var id atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		reqs := []Request{{Key: "acme/key-" + strconv.FormatInt(id.Add(1), 10), Limit: l, Cost: 1}}
		dst := make([]Result, 0, 1)
		now := t0
		for pb.Next() {
			now = now.Add(time.Microsecond)
			dst, _ = m.AppendTakeAll(context.Background(), dst[:0], now, reqs)
		}
	})
}

// BenchmarkTakeAllNewKeys is a flood: every call a key never seen, the
// store at its cap, each bucket evictable a thousand calls after it was
// made.
func BenchmarkTakeAllNewKeys(b *testing.B) {
	l := benchLimits[1]
	m := newMemory(b, MemoryOptions{MaxBuckets: 1 << 14})
	reqs := make([]Request, 1)
	now := t0
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		now = now.Add(time.Millisecond)
		reqs[0] = Request{Key: "flood-" + strconv.Itoa(i), Limit: l, Cost: 1}
		if _, err := m.TakeAll(context.Background(), now, reqs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(m.Evictions())/float64(b.N), "evictions/op")
}

// BenchmarkMemoryStoreHeap fills a store to its cap with distinct keys,
// measures the heap, pushes ten times the cap more through it and
// measures again. heap-10x/heap-1x is the whole process heap, as a
// dashboard sees it; store-10x/store-1x counts only what the store added
// to the heap it started with.
func BenchmarkMemoryStoreHeap(b *testing.B) {
	const maxBuckets = 100_000
	for _, l := range benchLimits[:3] {
		b.Run(l.Name, func(b *testing.B) {
			var whole, store, perBucket float64
			for b.Loop() {
				whole, store, perBucket = heapRatio(b, l, maxBuckets)
			}
			b.ReportMetric(whole, "heap-10x/heap-1x")
			b.ReportMetric(store, "store-10x/store-1x")
			b.ReportMetric(perBucket, "B/bucket")
		})
	}
}

func heapRatio(b *testing.B, l Limit, maxBuckets int) (whole, store, perBucket float64) {
	base := heapAlloc()
	m := newMemory(b, MemoryOptions{MaxBuckets: maxBuckets})
	now := t0
	reqs := make([]Request, 1)
	// A bucket turns evictable about a thousand calls after it is made:
	// the flood goes through by eviction, not refusal.
	step := l.Period / 1000
	push := func(from, to int) {
		for i := from; i < to; i++ {
			now = now.Add(step)
			reqs[0] = Request{Key: "flood-" + strconv.Itoa(i), Limit: l, Cost: 1}
			if _, err := m.TakeAll(context.Background(), now, reqs); err != nil {
				b.Fatal(err)
			}
		}
	}
	push(0, maxBuckets)
	atCap := heapAlloc()
	push(maxBuckets, 11*maxBuckets)
	after := heapAlloc()
	if m.Buckets() > maxBuckets || m.Evictions() < 9*uint64(maxBuckets) {
		b.Fatalf("%d buckets, %d evictions", m.Buckets(), m.Evictions())
	}
	runtime.KeepAlive(m)
	return float64(after) / float64(atCap),
		float64(after-base) / float64(atCap-base),
		float64(atCap-base) / float64(m.Buckets())
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
