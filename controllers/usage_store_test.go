package controllers

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/keyward-dev/keyward/internal/analytics"
)

// sumStore is a UsageStore that keeps every committed minute and sums
// them: what the aggregator must commit and write is then plain to read.
// It runs no detector; tick returns what the test queued.
type sumStore struct {
	mu        sync.Mutex
	minutes   map[string][]analytics.Minute
	forgotten []string
	ticks     []time.Time
	findings  []analytics.KeyFinding
	// incomplete are the minutes Incomplete was told of, once each.
	incomplete []time.Time
	// onCommit is what the next commit of a key finds.
	onCommit map[string][]analytics.Finding
}

func newSumStore() *sumStore { return &sumStore{minutes: map[string][]analytics.Minute{}} }

func (s *sumStore) Commit(id string, m analytics.Minute) []analytics.Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.minutes[id]; len(l) > 0 && !m.Start.After(l[len(l)-1].Start) {
		return nil
	}
	s.minutes[id] = append(s.minutes[id], m)
	f := s.onCommit[id]
	delete(s.onCommit, id)
	return f
}

func (s *sumStore) Tick(now time.Time) []analytics.KeyFinding {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ticks = append(s.ticks, now)
	f := s.findings
	s.findings = nil
	return f
}

func (s *sumStore) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.minutes, id)
	s.forgotten = append(s.forgotten, id)
}

func (s *sumStore) committed(id string) []analytics.Minute {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.minutes[id])
}

func (s *sumStore) Summary(id string, now time.Time) (analytics.Summary, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list, ok := s.minutes[id]
	if !ok {
		return analytics.Summary{}, false
	}
	var sum analytics.Summary
	countries, networks, denials := map[string]uint32{}, map[string]uint32{}, map[string]uint32{}
	for _, m := range list {
		if m.Verified() > 0 {
			sum.LastUsed = m.Start
		}
		denied := uint64(m.VerifiedDenials) + uint64(m.OtherDenials) + uint64(m.UnverifiedDenials)
		for _, w := range []struct {
			win    *analytics.Window
			period time.Duration
		}{{&sum.Hour, time.Hour}, {&sum.Day, 24 * time.Hour}} {
			if m.Start.After(now.Add(-w.period)) {
				w.win.Requests += m.Requests()
				w.win.Permits += uint64(m.Permits)
				w.win.Denials += denied
			}
		}
		if m.Start.After(now.Add(-24 * time.Hour)) {
			for _, c := range m.Countries {
				countries[c.Value] += c.N
			}
			for _, n := range m.Networks {
				networks[n.Value] += n.N
			}
			for r, n := range m.Denials {
				denials[r] += n
			}
		}
	}
	sum.TopCountries, sum.TopNetworks, sum.Day.TopDenials = top(countries, 5), top(networks, 5), top(denials, 3)
	return sum, true
}

func top(counts map[string]uint32, n int) []analytics.Count {
	var out []analytics.Count
	for v, c := range counts {
		out = append(out, analytics.Count{Value: v, N: c})
	}
	slices.SortFunc(out, func(a, b analytics.Count) int {
		if c := cmp.Compare(b.N, a.N); c != 0 {
			return c
		}
		return cmp.Compare(a.Value, b.Value)
	})
	return out[:min(len(out), n)]
}

func (s *sumStore) Incomplete(minute time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.incomplete, minute) {
		s.incomplete = append(s.incomplete, minute)
	}
}

func (s *sumStore) incompleteMinutes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.incomplete)
}
