package usage

import (
	"cmp"
	"slices"
	"time"

	"github.com/keyward-dev/keyward/internal/analytics"
)

// SumActivity adds up the replicas' reports of the embedded aggregation:
// each key's minutes that start in (after, through], every replica's counts
// of one minute summed. A replica reports each of its minutes several
// times (its last ActivityMinutes), and each report holds the whole minute
// so far, so that one report per replica is the whole count and summing
// the replicas' latest reports counts every request once.
func SumActivity(reports []ActivityReport, after, through time.Time) map[string][]analytics.Minute {
	byKey := map[string]map[time.Time]analytics.Minute{}
	for _, r := range reports {
		for id, minutes := range r.Keys {
			for _, m := range minutes {
				if !m.Start.After(after) || m.Start.After(through) {
					continue
				}
				if byKey[id] == nil {
					byKey[id] = map[time.Time]analytics.Minute{}
				}
				byKey[id][m.Start] = AddMinute(byKey[id][m.Start], m)
			}
		}
	}
	out := make(map[string][]analytics.Minute, len(byKey))
	for id, minutes := range byKey {
		list := make([]analytics.Minute, 0, len(minutes))
		for _, m := range minutes {
			list = append(list, m)
		}
		slices.SortFunc(list, func(a, b analytics.Minute) int { return a.Start.Compare(b.Start) })
		out[id] = list
	}
	return out
}

// AddMinute is a and b's counts of one minute together; a may be the zero
// Minute. Countries and networks keep the most frequent within the bounds
// of a Minute: a value that was not in a replica's top counts is missing
// from the sum, as it is from that replica's report.
func AddMinute(a, b analytics.Minute) analytics.Minute {
	sum := analytics.Minute{
		Start:             b.Start,
		Permits:           a.Permits + b.Permits,
		VerifiedDenials:   a.VerifiedDenials + b.VerifiedDenials,
		OtherDenials:      a.OtherDenials + b.OtherDenials,
		UnverifiedDenials: a.UnverifiedDenials + b.UnverifiedDenials,
		Countries:         addCounts(a.Countries, b.Countries, analytics.MaxCountries),
		Networks:          addCounts(a.Networks, b.Networks, analytics.MaxNetworks),
	}
	if len(a.Denials)+len(b.Denials) > 0 {
		sum.Denials = make(map[string]uint32, len(a.Denials)+len(b.Denials))
		for _, d := range []map[string]uint32{a.Denials, b.Denials} {
			for reason, n := range d {
				sum.Denials[reason] += n
			}
		}
	}
	return sum
}

// addCounts merges two count lists, most frequent first (ties by value,
// so that the order does not depend on the replicas'), at most limit.
func addCounts(a, b []analytics.Count, limit int) []analytics.Count {
	if len(a)+len(b) == 0 {
		return nil
	}
	merged := slices.Clone(a)
	for _, c := range b {
		if i := slices.IndexFunc(merged, func(m analytics.Count) bool { return m.Value == c.Value }); i >= 0 {
			merged[i].N += c.N
		} else {
			merged = append(merged, c)
		}
	}
	slices.SortFunc(merged, func(x, y analytics.Count) int {
		if c := cmp.Compare(y.N, x.N); c != 0 {
			return c
		}
		return cmp.Compare(x.Value, y.Value)
	})
	return merged[:min(len(merged), limit)]
}
