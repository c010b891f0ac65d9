package verifier

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/usage"
)

// BenchmarkActivityHeapPerKey is the verifier heap one tracked key takes
// with every minute a report carries full: four countries, four networks
// and two denial reasons in each (goal ≤ 2 KiB). Key IDs are not counted:
// the table shares the index's strings.
func BenchmarkActivityHeapPerKey(b *testing.B) {
	const n = 100_000
	for range b.N {
		entries := make([]*Entry, n)
		for i := range entries {
			entries[i] = &Entry{Record: record.Record{KeyID: testKeyID(i)}}
		}
		var envs []envSnapshot
		for c := range 4 {
			envs = append(envs, snapshotEnv(string([]byte{'A' + byte(c), 'Z'}), netip.AddrFrom4([4]byte{192, 0, byte(c), 1})))
		}
		before := heapInUse()
		a := newActivity(n)
		for m := range usage.ActivityMinutes {
			now := t0.Add(time.Duration(m) * time.Minute)
			for _, e := range entries {
				for i := range envs {
					a.record(Decision{Result: Permit, KeyID: e.Record.KeyID, entry: e}, &envs[i], now, time.Millisecond)
				}
				a.record(Decision{Result: Deny, Reason: ReasonInsufficientScope, KeyID: e.Record.KeyID, entry: e}, &envs[0], now, time.Millisecond)
				a.record(Decision{Result: Deny, Reason: ReasonInvalidSecret, entry: e}, &envs[0], now, time.Millisecond)
			}
		}
		after := heapInUse()
		if a.tracked.Load() != n {
			b.Fatalf("tracked %d keys, want %d", a.tracked.Load(), n)
		}
		b.ReportMetric(float64(after-before)/n, "heap-B/key")
		runtime.KeepAlive(a)
		runtime.KeepAlive(entries)
	}
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkActivityRecord is the hot-path cost of counting one decision of
// a known key, from parallel goroutines.
func BenchmarkActivityRecord(b *testing.B) {
	a := newActivity(1000)
	entries := make([]*Entry, 64)
	for i := range entries {
		entries[i] = &Entry{Record: record.Record{KeyID: testKeyID(i)}}
	}
	env := snapshotEnv("DE", netip.MustParseAddr("192.0.2.1"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			e := entries[i%len(entries)]
			a.record(Decision{Result: Permit, KeyID: e.Record.KeyID, entry: e}, &env, t0, time.Millisecond)
			i++
		}
	})
}

// BenchmarkActivityReportSnapshot is the cost of one report's selection of
// the usage.MaxActivityKeys busiest keys out of 100,000 tracked ones, each
// with a full window of minutes: it runs every report interval.
func BenchmarkActivityReportSnapshot(b *testing.B) {
	const n = 100_000
	entries := make([]*Entry, n)
	for i := range entries {
		entries[i] = &Entry{Record: record.Record{KeyID: testKeyID(i)}}
	}
	env := snapshotEnv("DE", netip.MustParseAddr("192.0.2.1"))
	a := newActivity(n)
	for m := range usage.ActivityMinutes {
		now := t0.Add(time.Duration(m) * time.Minute)
		for i, e := range entries {
			for range 1 + i%7 {
				a.record(Decision{Result: Permit, KeyID: e.Record.KeyID, entry: e}, &env, now, time.Millisecond)
			}
			a.record(Decision{Result: Deny, Reason: ReasonInvalidSecret, entry: e}, &env, now, time.Millisecond)
		}
	}
	at := t0.Add((usage.ActivityMinutes - 1) * time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		top, _ := a.busiest(at, usage.MaxActivityKeys)
		if len(top) < usage.MaxActivityKeys {
			b.Fatalf("%d keys reported", len(top))
		}
	}
}

// BenchmarkActivityRecordWhenFull is the hot-path cost of a decision about
// a key the full table does not track, from parallel goroutines: a read
// lock, never the shard's write lock.
func BenchmarkActivityRecordWhenFull(b *testing.B) {
	a := newActivity(1)
	tracked := &Entry{Record: record.Record{KeyID: testKeyID(0)}}
	env := snapshotEnv("DE", netip.MustParseAddr("192.0.2.1"))
	a.record(Decision{Result: Permit, KeyID: tracked.Record.KeyID, entry: tracked}, &env, t0, time.Millisecond)
	entries := make([]*Entry, 64)
	for i := range entries {
		entries[i] = &Entry{Record: record.Record{KeyID: testKeyID(i + 1)}}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			e := entries[i%len(entries)]
			a.record(Decision{Result: Permit, KeyID: e.Record.KeyID, entry: e}, &env, t0, time.Millisecond)
			i++
		}
	})
	if a.tracked.Load() != 1 {
		b.Fatalf("tracked %d keys, want 1", a.tracked.Load())
	}
}
