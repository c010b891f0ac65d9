package analytics

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestSummary(t *testing.T) {
	g := NewWithT(t)
	s := NewStore(DefaultParams(), 10)
	start := monday.Add(10 * time.Hour)
	for n := range 90 {
		at := start.Add(time.Duration(n) * time.Minute)
		m := Minute{Start: at, Permits: 10, VerifiedDenials: 2, UnverifiedDenials: 1,
			Denials:   map[string]uint32{"scope": 2, "invalid_secret": 1},
			Countries: []Count{{Value: "DE", N: 8}, {Value: "FR", N: 4}},
			Networks:  []Count{{Value: "192.0.2.0/24", N: 12}}}
		s.Commit("k", m)
	}
	now := start.Add(90 * time.Minute)
	sum, ok := s.Summary("k", now)
	g.Expect(ok).To(BeTrue())
	g.Expect(sum).To(Equal(Summary{
		LastUsed: now.Add(-time.Minute),
		Hour: Window{Requests: 60 * 13, Permits: 600, Denials: 180,
			TopDenials: []Count{{Value: "scope", N: 120}, {Value: "invalid_secret", N: 60}}},
		Day: Window{Requests: 90 * 13, Permits: 900, Denials: 270,
			TopDenials: []Count{{Value: "scope", N: 180}, {Value: "invalid_secret", N: 90}}},
		TopCountries: []Count{{Value: "DE", N: 720}, {Value: "FR", N: 360}},
		TopNetworks:  []Count{{Value: "192.0.2.0/24", N: 1080}},
	}))
	_, ok = s.Summary("unknown", now)
	g.Expect(ok).To(BeFalse())
}

// The manager writes status.usage only when the summary changes: an idle
// key's must settle within a day and then never change.
func TestIdleSummaryIsFixed(t *testing.T) {
	g := NewWithT(t)
	s, end := warmed()
	s.Tick(end.Add(7 * time.Hour)) // detectors' state is not the summary's
	settled, _ := s.Summary("k", end.Add(24*time.Hour))
	g.Expect(settled.LastUsed).To(Equal(end.Add(-time.Minute)))
	g.Expect(settled.Day.Requests).To(BeZero())
	for _, later := range []time.Duration{24*time.Hour + 30*time.Second, 25 * time.Hour, 72 * time.Hour, 400 * 24 * time.Hour} {
		s.Tick(end.Add(later))
		sum, _ := s.Summary("k", end.Add(later))
		g.Expect(sum).To(Equal(settled), "after %v", later)
	}
	before, _ := s.Summary("k", end.Add(-30*time.Minute+20*time.Second))
	again, _ := s.Summary("k", end.Add(-30*time.Minute))
	g.Expect(again).To(Equal(before), "a summary depends on now's minute only")
}

func TestCommitIgnoresRepeatedAndOlderMinutes(t *testing.T) {
	g := NewWithT(t)
	s := NewStore(DefaultParams(), 10)
	at := monday.Add(time.Hour)
	s.Commit("k", home.minute(at))
	first, _ := s.Summary("k", at.Add(time.Minute))
	g.Expect(s.Commit("k", home.minute(at))).To(BeNil())
	g.Expect(s.Commit("k", home.minute(at.Add(-time.Minute)))).To(BeNil())
	g.Expect(s.Commit("k", Minute{Start: at.Add(90 * time.Second), Permits: 1})).To(BeNil(), "not a whole minute")
	g.Expect(s.Commit("k", Minute{Start: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), Permits: 1})).To(BeNil())
	again, _ := s.Summary("k", at.Add(time.Minute))
	g.Expect(again).To(Equal(first))
	g.Expect(again.Hour.Permits).To(Equal(uint64(home.perMinute)))
}

func TestMaxKeysEvictsTheLeastRecentlyCommitted(t *testing.T) {
	g := NewWithT(t)
	s := NewStore(DefaultParams(), 3)
	at := monday
	commit := func(key string) {
		at = at.Add(time.Minute)
		s.Commit(key, home.minute(at))
	}
	commit("a")
	commit("b")
	commit("c")
	commit("a")
	commit("d")
	g.Expect(s.Len()).To(Equal(3))
	for key, held := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		_, ok := s.Summary(key, at)
		g.Expect(ok).To(Equal(held), key)
	}
	s.Forget("a")
	commit("e")
	commit("f")
	g.Expect(s.Len()).To(Equal(3))
	_, ok := s.Summary("c", at)
	g.Expect(ok).To(BeFalse())
}

// bytesPerKey measures the heap a store holds per key, every ring in use.
func bytesPerKey(keys int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := NewStore(DefaultParams(), keys)
	for n := range keys {
		key := fmt.Sprintf("key-%06d", n)
		for j := range 4 {
			m := home.minute(monday.Add(time.Duration(j) * time.Hour))
			m.Denials = map[string]uint32{"scope": 1}
			m.VerifiedDenials = 1
			s.Commit(key, m)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(keys)
}

func TestMemoryPerKey(t *testing.T) {
	g := NewWithT(t)
	perKey := bytesPerKey(5000)
	t.Logf("%.0f bytes per key", perKey)
	g.Expect(perKey).To(BeNumerically("<=", 4096))
}

func BenchmarkStoreMemory(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(bytesPerKey(5000), "bytes/key")
	}
}

func BenchmarkStoreCommit(b *testing.B) {
	s := NewStore(DefaultParams(), 1000)
	m := home.minute(monday)
	n := 0
	for b.Loop() {
		m.Start = monday.Add(time.Duration(n/1000) * time.Minute)
		s.Commit(fmt.Sprintf("key-%d", n%1000), m)
		n++
	}
}

// The manager commits from its aggregator while status writers read
// summaries and a ticker runs Silence: run under -race.
func TestStoreConcurrentUse(t *testing.T) {
	g := NewWithT(t)
	s := NewStore(DefaultParams(), 8)
	done := make(chan struct{})
	for w := range 3 {
		go func() {
			defer func() { done <- struct{}{} }()
			for n := range 500 {
				at := monday.Add(time.Duration(n) * time.Minute)
				switch w {
				case 0:
					s.Commit(fmt.Sprintf("key-%d", n%10), home.minute(at))
				case 1:
					s.Summary(fmt.Sprintf("key-%d", n%10), at)
				case 2:
					s.Tick(at)
				}
			}
		}()
	}
	for range 3 {
		<-done
	}
	g.Expect(s.Len()).To(Equal(8))
}

// Reason codes come from reports: a flood of made-up ones is counted but
// does not grow the store beyond maxInterned names.
func TestReasonCodesAreBounded(t *testing.T) {
	g := NewWithT(t)
	s := NewStore(DefaultParams(), 10)
	at := monday
	for n := range maxInterned + 200 {
		at = at.Add(time.Minute)
		name := fmt.Sprintf("made_up_%c%c", 'a'+n/26%26, 'a'+n%26) + strings.Repeat("x", n/676)
		s.Commit("k", Minute{Start: at, UnverifiedDenials: 1, Denials: map[string]uint32{name: 1}})
	}
	g.Expect(s.reasons.names).To(HaveLen(maxInterned))
	sum, _ := s.Summary("k", at.Add(time.Minute))
	g.Expect(sum.Hour.Denials).To(Equal(uint64(60)))
	g.Expect(len(sum.Hour.TopDenials)).To(BeNumerically("<=", 3))
}
