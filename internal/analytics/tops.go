package analytics

import (
	"cmp"
	"slices"
)

// topAdd counts n for id in a fixed-size top list (ids, ns of the same
// length, id 0 = free): a space-saving sketch, so a value missing from a
// full list takes the place of the smallest and inherits its count. The
// counts of the listed values are then upper bounds, exact while the list
// never overflowed; what matters is that the busiest values stay listed.
func topAdd(ids []uint16, ns []uint32, id uint16, n uint32) {
	if id == 0 || n == 0 {
		return
	}
	smallest := 0
	for i := range ids {
		if ids[i] == id {
			ns[i] = addSat(ns[i], n)
			return
		}
		if ids[i] == 0 {
			ids[i], ns[i] = id, n
			return
		}
		if ns[i] < ns[smallest] {
			smallest = i
		}
	}
	ids[smallest], ns[smallest] = id, addSat(ns[smallest], n)
}

// addSat adds without wrapping: a count that would overflow stays at the
// largest value.
func addSat(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint32(0)
}

// addSat16 is addSat for the minute ring's per-reason counts.
func addSat16(a uint16, b uint32) uint16 {
	if s := uint32(a) + b; s >= uint32(a) && s <= 0xffff {
		return uint16(s)
	}
	return 0xffff
}

// tally sums counts by name over several top lists for a summary.
type tally map[string]uint64

// top returns the k largest, most frequent first, ties by name so that a
// summary is the same however often it is computed.
func (t tally) top(k int) []Count {
	if len(t) == 0 {
		return nil
	}
	out := make([]Count, 0, len(t))
	for v, n := range t {
		out = append(out, Count{Value: v, N: clamp32(n)})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if c := cmp.Compare(b.N, a.N); c != 0 {
			return c
		}
		return cmp.Compare(a.Value, b.Value)
	})
	return out[:min(k, len(out))]
}

func clamp32(n uint64) uint32 {
	if n > uint64(^uint32(0)) {
		return ^uint32(0)
	}
	return uint32(n)
}
