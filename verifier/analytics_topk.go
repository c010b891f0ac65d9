package verifier

import (
	"cmp"
	"slices"

	"github.com/keyward-dev/keyward/internal/analytics"
)

// topKSize is how many values a minute's top-k keeps per kind.
const topKSize = max(analytics.MaxCountries, analytics.MaxNetworks)

// topK counts the most frequent values of a stream in fixed space, with the
// space-saving algorithm (Metwally et al.): a new value takes the place of
// the least counted one and inherits its count plus one, so a value seen
// more often than 1/topKSize of the time is never lost, and no count is
// ever too low.
type topK[T comparable] struct {
	vals [topKSize]T
	ns   [topKSize]uint32
}

func (k *topK[T]) add(v T) {
	least := 0
	for i := range k.ns {
		if k.ns[i] == 0 {
			k.vals[i], k.ns[i] = v, 1
			return
		}
		if k.vals[i] == v {
			k.ns[i]++
			return
		}
		if k.ns[i] < k.ns[least] {
			least = i
		}
	}
	k.vals[least] = v
	k.ns[least]++
}

// counts lists at most limit values, most frequent first.
func (k *topK[T]) counts(limit int, name func(T) string) []analytics.Count {
	var out []analytics.Count
	for i := range k.ns {
		if k.ns[i] > 0 {
			out = append(out, analytics.Count{Value: name(k.vals[i]), N: k.ns[i]})
		}
	}
	slices.SortFunc(out, func(a, b analytics.Count) int {
		if c := cmp.Compare(b.N, a.N); c != 0 {
			return c
		}
		return cmp.Compare(a.Value, b.Value)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}
