package analytics

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestSilence(t *testing.T) {
	t.Run("a key with a baseline that stops is flagged once, and again after its next use", func(t *testing.T) {
		g := NewWithT(t)
		s, end := warmed()
		found := idle(s, end, end.Add(12*time.Hour))
		g.Expect(reasonsOf(found)).To(Equal([]Reason{FellSilent}))
		g.Expect(found[0].At).To(Equal(end.Add(6*time.Hour - time.Minute)))
		g.Expect(found[0].Message).To(ContainSubstring("expected about"))

		resume := end.Add(12 * time.Hour)
		g.Expect(run(s, "k", home, resume, resume.Add(time.Hour))).To(BeEmpty())
		g.Expect(reasonsOf(idle(s, resume.Add(time.Hour), resume.Add(12*time.Hour)))).To(Equal([]Reason{FellSilent}))
	})
	t.Run("a key in use is not flagged", func(t *testing.T) {
		g := NewWithT(t)
		s, end := warmed()
		g.Expect(run(s, "k", home, end, end.Add(12*time.Hour))).To(BeEmpty())
	})
	t.Run("a new key that stops is not flagged", func(t *testing.T) {
		g := NewWithT(t)
		s := NewStore(DefaultParams(), 10)
		day := monday.Add(24 * time.Hour)
		run(s, "k", home, monday, day)
		g.Expect(idle(s, day, day.Add(24*time.Hour))).To(BeEmpty())
	})
	t.Run("a batch key is not silent between its runs, nor a weekday key at weekends", func(t *testing.T) {
		g := NewWithT(t)
		s := NewStore(DefaultParams(), 10)
		var found []Finding
		end := monday.Add(18 * 24 * time.Hour) // two weeks, then Wednesday and Thursday
		for at := monday; at.Before(end); at = at.Add(time.Minute) {
			runs := at.Weekday() == time.Monday || at.Weekday() == time.Wednesday || at.Weekday() == time.Friday
			if runs && at.Hour() == 2 && at.Before(monday.Add(14*24*time.Hour)) {
				found = append(found, s.Commit("k", Minute{Start: at, Permits: 100})...)
			}
			for _, f := range s.Tick(at) {
				found = append(found, f.Finding)
			}
		}
		g.Expect(found).To(BeEmpty(), "a key used on three days of seven has no silence to break")

		weekdays := NewStore(DefaultParams(), 10)
		found = nil
		for at := monday; at.Before(end); at = at.Add(time.Minute) {
			if wd := at.Weekday(); wd != time.Saturday && wd != time.Sunday && at.Before(monday.Add(15*24*time.Hour)) {
				found = append(found, weekdays.Commit("k", home.minute(at))...)
			}
			for _, f := range weekdays.Tick(at) {
				found = append(found, f.Finding)
			}
		}
		g.Expect(found).To(HaveLen(2))
		g.Expect(found[0].At.Weekday()).To(Equal(time.Saturday), "its first weekend, with no week of history yet")
		g.Expect(found[1].At.Weekday()).To(Equal(time.Tuesday), "not its second weekend; the Tuesday it stopped")
	})
	t.Run("a key too quiet to be missed is not flagged", func(t *testing.T) {
		g := NewWithT(t)
		s := NewStore(DefaultParams(), 10)
		end := monday.Add(4 * 24 * time.Hour)
		for at := monday; at.Before(end); at = at.Add(2 * time.Hour) {
			s.Commit("k", traffic{perMinute: 1, country: "DE"}.minute(at))
		}
		g.Expect(idle(s, end, end.Add(3*24*time.Hour))).To(BeEmpty())
	})
}

func TestNewLocation(t *testing.T) {
	cases := []struct {
		name    string
		warm    []traffic // used in turn, one minute each, through warm-up
		later   traffic
		gap     time.Duration // from the warm-up's end to later
		reasons []Reason
		message string
	}{{
		name: "a neighbour country is new", warm: []traffic{home},
		later:   traffic{perMinute: 3, country: "FR", network: "192.0.2.0/24"},
		reasons: []Reason{NewCountry}, message: "Key used from FR at 00:00 UTC (never seen before; seen: DE)",
	}, {
		name: "a far country a minute later is impossible travel", warm: []traffic{home},
		later:   traffic{perMinute: 3, country: "BR", network: "203.0.113.0/24"},
		reasons: []Reason{ImpossibleTravel}, message: "Key used from BR at 00:00 UTC, 1m0s after DE",
	}, {
		name: "a far country a day later is only new", warm: []traffic{home}, gap: 24 * time.Hour,
		later:   traffic{perMinute: 3, country: "BR", network: "192.0.2.0/24"},
		reasons: []Reason{NewCountry},
	}, {
		name: "a new network in a known country", warm: []traffic{home},
		later:   traffic{perMinute: 3, country: "DE", network: "198.51.100.0/24"},
		reasons: []Reason{NewNetwork}, message: "Key used from network 198.51.100.0/24 at 00:00 UTC (never seen before; seen: 192.0.2.0/24)",
	}, {
		name: "a second country the key was always used from", gap: time.Minute,
		warm:  []traffic{home, {perMinute: 5, country: "US", network: "203.0.113.0/24"}},
		later: traffic{perMinute: 5, country: "US", network: "203.0.113.0/24"},
	}, {
		name: "a key used from many networks has none to leave", warm: manyNetworks(knownCapacity),
		later: traffic{perMinute: 3, country: "DE", network: "198.51.100.0/24"},
	}, {
		name: "an IPv6 network the key was always used from", warm: []traffic{{perMinute: 1, country: "DE", network: "2001:db8:1::/48"}},
		later: traffic{perMinute: 5, country: "DE", network: "2001:db8:1::/48"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			s := NewStore(DefaultParams(), 10)
			end := monday.Add(2 * 24 * time.Hour)
			n := 0
			for at := monday; at.Before(end); at = at.Add(time.Minute) {
				g.Expect(s.Commit("k", c.warm[n%len(c.warm)].minute(at))).To(BeEmpty())
				n++
			}
			found := s.Commit("k", c.later.minute(end.Add(c.gap)))
			g.Expect(reasonsOf(found)).To(Equal(c.reasons))
			if c.message != "" {
				g.Expect(found[0].Message).To(HavePrefix(c.message))
				g.Expect(found[0].Actionable).To(BeTrue())
			}
			g.Expect(s.Commit("k", c.later.minute(end.Add(c.gap+time.Minute)))).To(BeEmpty(), "a location is new once")
		})
	}
}

// manyNetworks is traffic from n networks in turn.
func manyNetworks(n int) []traffic {
	var out []traffic
	for j := range n {
		out = append(out, traffic{perMinute: 2, country: "DE", network: fmt.Sprintf("10.0.%d.0/24", j)})
	}
	return out
}

// cycle is a key's daily cycle: busy by day, quiet at night.
func cycle(at time.Time) uint32 {
	if h := at.Hour(); h >= 8 && h < 20 {
		return 40
	}
	return 8
}

func TestVolume(t *testing.T) {
	cases := []struct {
		name    string
		shape   func(at time.Time, day int) uint32 // permits in a minute of day 4
		reasons []Reason
	}{
		{"the daily cycle", func(at time.Time, _ int) uint32 { return cycle(at) }, nil},
		{"a gentle growth", func(at time.Time, day int) uint32 { return cycle(at) * uint32(10+day) / 10 }, nil},
		{"a weekend dip", func(at time.Time, _ int) uint32 { return cycle(at) / 2 }, nil},
		{"a spike for an hour", func(at time.Time, _ int) uint32 {
			if at.Hour() == 10 {
				return 400
			}
			return cycle(at)
		}, []Reason{VolumeSpike}},
		{"a drop for an hour", func(at time.Time, _ int) uint32 {
			if at.Hour() == 10 {
				return 1
			}
			return cycle(at)
		}, []Reason{VolumeDrop}},
		{"a new key's first busy days", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			s := NewStore(DefaultParams(), 10)
			var found []Finding
			for at := monday; at.Before(monday.Add(5 * 24 * time.Hour)); at = at.Add(time.Minute) {
				day := int(at.Sub(monday) / (24 * time.Hour))
				n := cycle(at)
				if c.shape == nil {
					n = cycle(at) * uint32(1+day*3)
				} else if day == 4 {
					n = c.shape(at, day)
				}
				found = append(found, s.Commit("k", Minute{Start: at, Permits: n})...)
			}
			g.Expect(reasonsOf(found)).To(Equal(c.reasons))
			for _, f := range found {
				g.Expect(f.Message).To(ContainSubstring("usually about"))
			}
		})
	}
}

func TestDenials(t *testing.T) {
	cases := []struct {
		name       string
		minute     Minute
		reasons    []Reason
		actionable bool
	}{{
		name:    "a burst of verified denials is actionable",
		minute:  Minute{Permits: 10, VerifiedDenials: 50, Denials: map[string]uint32{"scope": 50}},
		reasons: []Reason{DenialSpike}, actionable: true,
	}, {
		name:    "a burst of wrong secrets is not",
		minute:  Minute{Permits: 10, UnverifiedDenials: 500, Denials: map[string]uint32{"invalid_secret": 500}},
		reasons: []Reason{DenialSpike},
	}, {
		name:   "a few denials are normal",
		minute: Minute{Permits: 10, VerifiedDenials: 3, UnverifiedDenials: 2, Denials: map[string]uint32{"scope": 3, "invalid_secret": 2}},
	}, {
		name:   "many denials among many requests are normal",
		minute: Minute{Permits: 200, VerifiedDenials: 25, UnverifiedDenials: 5, Denials: map[string]uint32{"insufficient_scope": 25, "invalid_secret": 5}},
	}, {
		name:   "denials for limits or a failed store are no probe",
		minute: Minute{OtherDenials: 500, Denials: map[string]uint32{"rate_limit_unavailable": 500}, Countries: []Count{{Value: "DE", N: 500}}},
	}, {
		name:    "nor do they hide one",
		minute:  Minute{Permits: 10, VerifiedDenials: 50, OtherDenials: 5000, Denials: map[string]uint32{"scope": 50, "rate_limited": 5000}},
		reasons: []Reason{DenialSpike}, actionable: true,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			s, end := warmed()
			m := c.minute
			m.Start = end
			found := s.Commit("k", m)
			g.Expect(reasonsOf(found)).To(Equal(c.reasons))
			if len(found) > 0 {
				g.Expect(found[0].Actionable).To(Equal(c.actionable))
				g.Expect(found[0].Message).To(ContainSubstring("usually 0%"))
			}
			next := m
			next.Start = end.Add(time.Minute)
			g.Expect(s.Commit("k", next)).To(BeEmpty(), "one finding per burst")
		})
	}
	t.Run("a key usually denied is not flagged for it", func(t *testing.T) {
		g := NewWithT(t)
		s := NewStore(DefaultParams(), 10)
		limited := Minute{Permits: 40, VerifiedDenials: 60, Denials: map[string]uint32{"outside_time_window": 60}}
		for at := monday; at.Before(monday.Add(24 * time.Hour)); at = at.Add(time.Minute) {
			limited.Start = at
			found := s.Commit("k", limited)
			if at.After(monday.Add(2 * time.Hour)) {
				g.Expect(found).To(BeEmpty())
			}
		}
	})
}

// A rate-limit store down for hours, or a quota used up, denies every
// request of a key: the key is still in use (never silent, its last use
// and denials shown) but no detector acts on those denials, nor does its
// usual share of denials move, so that a probe after the outage is still
// caught.
func TestOtherDenialsAreUseNotProbes(t *testing.T) {
	g := NewWithT(t)
	s, end := warmed()
	outage := end.Add(8 * time.Hour)
	var found []Finding
	for at := end; at.Before(outage); at = at.Add(time.Minute) {
		found = append(found, s.Commit("k", Minute{Start: at, OtherDenials: 10,
			Denials: map[string]uint32{"rate_limit_unavailable": 10}, Countries: []Count{{Value: "DE", N: 10}}})...)
		for _, f := range s.Tick(at) {
			found = append(found, f.Finding)
		}
	}
	for _, f := range found {
		g.Expect(f.Actionable).To(BeFalse(), f.Message)
		g.Expect(f.Reason).NotTo(Equal(FellSilent))
	}
	sum, _ := s.Summary("k", outage)
	g.Expect(sum.LastUsed).To(Equal(outage.Add(-time.Minute)))
	g.Expect(sum.Hour.Denials).To(BeEquivalentTo(600))
	g.Expect(sum.Hour.TopDenials).To(Equal([]Count{{Value: "rate_limit_unavailable", N: 600}}))

	probe := Minute{Start: outage, Permits: 10, VerifiedDenials: 50, Denials: map[string]uint32{"insufficient_scope": 50}}
	g.Expect(s.Commit("k", probe)).To(ContainElement(And(HaveField("Reason", DenialSpike), HaveField("Actionable", true))))
}

// An attacker who knows a key ID but not its secret floods it with wrong
// secrets: the key must not look used, move, or become suspendable.
func TestUnverifiedDenialsMoveNothing(t *testing.T) {
	g := NewWithT(t)
	s, end := warmed()
	before, _ := s.Summary("k", end)

	foreign := Minute{Start: end, UnverifiedDenials: 1000, Denials: map[string]uint32{"invalid_secret": 1000},
		Countries: []Count{{Value: "BR", N: 1000}}}
	g.Expect(foreign.Validate()).To(MatchError(ContainSubstring("more than its 0 verified")))
	g.Expect(s.Commit("k", foreign)).To(BeEmpty(), "a location without verified requests is refused")

	var found []Finding
	for at := end; at.Before(end.Add(12 * time.Hour)); at = at.Add(time.Minute) {
		found = append(found, s.Commit("k", Minute{Start: at, UnverifiedDenials: 1000,
			Denials: map[string]uint32{"invalid_secret": 1000}})...)
		for _, f := range s.Tick(at) {
			found = append(found, f.Finding)
		}
	}
	for _, f := range found {
		g.Expect(f.Reason).To(BeElementOf(DenialSpike, FellSilent))
		if f.Reason == DenialSpike {
			g.Expect(f.Actionable).To(BeFalse())
		}
	}
	g.Expect(reasonsOf(found)).To(ContainElement(FellSilent), "wrong secrets are not use")
	after, _ := s.Summary("k", end.Add(12*time.Hour))
	g.Expect(after.LastUsed).To(Equal(before.LastUsed))
	g.Expect(after.TopCountries).To(Equal([]Count{{Value: "DE", N: 11 * 60 * home.perMinute}}), "the 24 clock hours up to now")
	g.Expect(after.Day.Denials).To(Equal(uint64(12 * 60 * 1000)))

	// the home traffic comes back: its baseline is as it was
	back := end.Add(12 * time.Hour)
	g.Expect(run(s, "k", home, back, back.Add(2*time.Hour))).To(BeEmpty())
}
