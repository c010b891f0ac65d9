package verifier

import (
	"cmp"
	"container/heap"
	"slices"
)

// activityRank is what a report's limited room is shared out by: a key's
// verified requests, its holder's own use, which nobody without its secret
// can inflate; then all its requests, so that a key only named by wrong
// secrets comes after every key in use. Wrong secrets naming 400 key IDs
// therefore never push a used key out of a report.
type activityRank struct {
	id                 string
	verified, requests uint64
}

func (r *activityRank) add(verified, requests uint64) {
	r.verified += verified
	r.requests += requests
}

// busier orders ranks busiest first, by key ID on a tie so that a report
// does not depend on a map's order.
func busier(x, y activityRank) int {
	if c := cmp.Compare(y.verified, x.verified); c != 0 {
		return c
	}
	if c := cmp.Compare(y.requests, x.requests); c != 0 {
		return c
	}
	return cmp.Compare(x.id, y.id)
}

type rankedKey struct {
	rank activityRank
	k    *keyActivity
}

// rankHeap keeps the limit busiest keys offered, in a heap whose root is
// the least busy of them, and counts the keys it passed over: choosing
// the few a report carries costs no copy of the others.
type rankHeap struct {
	limit  int
	keys   []rankedKey
	passed int
}

func (h *rankHeap) offer(r rankedKey) {
	if h.limit <= 0 {
		h.passed++
		return
	}
	if len(h.keys) < h.limit {
		heap.Push(h, r)
		return
	}
	h.passed++
	if busier(r.rank, h.keys[0].rank) < 0 {
		h.keys[0] = r
		heap.Fix(h, 0)
	}
}

// sorted is the keys kept, busiest first.
func (h *rankHeap) sorted() []rankedKey {
	slices.SortFunc(h.keys, func(x, y rankedKey) int { return busier(x.rank, y.rank) })
	return h.keys
}

// heap.Interface, least busy at the root.
func (h *rankHeap) Len() int           { return len(h.keys) }
func (h *rankHeap) Less(i, j int) bool { return busier(h.keys[i].rank, h.keys[j].rank) > 0 }
func (h *rankHeap) Swap(i, j int)      { h.keys[i], h.keys[j] = h.keys[j], h.keys[i] }
func (h *rankHeap) Push(x any)         { h.keys = append(h.keys, x.(rankedKey)) }
func (h *rankHeap) Pop() any {
	last := h.keys[len(h.keys)-1]
	h.keys = h.keys[:len(h.keys)-1]
	return last
}
