package analytics

import (
	"time"
)

// monday is a Monday midnight, UTC: the traces below start there.
var monday = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// traffic is one key's minute-by-minute verified use in a test.
type traffic struct {
	perMinute uint32
	country   string
	network   string
}

func (tr traffic) minute(at time.Time) Minute {
	m := Minute{Start: at, Permits: tr.perMinute}
	if tr.country != "" {
		m.Countries = []Count{{Value: tr.country, N: tr.perMinute}}
	}
	if tr.network != "" {
		m.Networks = []Count{{Value: tr.network, N: tr.perMinute}}
	}
	return m
}

// run commits tr for every minute of [from, to) and ticks, returning
// every finding.
func run(s *Store, key string, tr traffic, from, to time.Time) []Finding {
	var found []Finding
	for at := from; at.Before(to); at = at.Add(time.Minute) {
		found = append(found, s.Commit(key, tr.minute(at))...)
		for _, f := range s.Tick(at) {
			found = append(found, f.Finding)
		}
	}
	return found
}

// idle ticks every minute of [from, to).
func idle(s *Store, from, to time.Time) []Finding {
	var found []Finding
	for at := from; at.Before(to); at = at.Add(time.Minute) {
		for _, f := range s.Tick(at) {
			found = append(found, f.Finding)
		}
	}
	return found
}

func reasonsOf(found []Finding) []Reason {
	var out []Reason
	for _, f := range found {
		out = append(out, f.Reason)
	}
	return out
}

var home = traffic{perMinute: 10, country: "DE", network: "192.0.2.0/24"}

// warmed returns a store with key "k" used steadily from home for four days.
func warmed() (*Store, time.Time) {
	s := NewStore(DefaultParams(), 100)
	end := monday.Add(4 * 24 * time.Hour)
	run(s, "k", home, monday, end)
	return s, end
}
