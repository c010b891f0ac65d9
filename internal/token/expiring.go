package token

import (
	"container/heap"
	"time"
)

// expiring is a map whose entries carry an expiry, ordered by a min-heap so
// that dropping the expired entries and finding the soonest-expiring one
// cost O(log n) instead of a scan of the whole map. Not safe for concurrent
// use; its owners lock.
type expiring[K comparable, V any] struct {
	items map[K]*slot[K, V]
	order slotHeap[K, V]
}

type slot[K comparable, V any] struct {
	key   K
	val   V
	exp   time.Time
	index int
}

func newExpiring[K comparable, V any]() *expiring[K, V] {
	return &expiring[K, V]{items: map[K]*slot[K, V]{}}
}

func (e *expiring[K, V]) len() int { return len(e.items) }

func (e *expiring[K, V]) get(k K) (*slot[K, V], bool) {
	s, ok := e.items[k]
	return s, ok
}

func (e *expiring[K, V]) put(k K, v V, exp time.Time) {
	if s, ok := e.items[k]; ok {
		s.val, s.exp = v, exp
		heap.Fix(&e.order, s.index)
		return
	}
	s := &slot[K, V]{key: k, val: v, exp: exp}
	e.items[k] = s
	heap.Push(&e.order, s)
}

func (e *expiring[K, V]) remove(k K) {
	if s, ok := e.items[k]; ok {
		heap.Remove(&e.order, s.index)
		delete(e.items, k)
	}
}

// sweep drops every entry whose expiry is not after now and calls dropped,
// if given, for each.
func (e *expiring[K, V]) sweep(now time.Time, dropped func(*slot[K, V])) {
	for len(e.order) > 0 && !e.order[0].exp.After(now) {
		s := e.popSoonest()
		if dropped != nil {
			dropped(s)
		}
	}
}

func (e *expiring[K, V]) popSoonest() *slot[K, V] {
	s := heap.Pop(&e.order).(*slot[K, V])
	delete(e.items, s.key)
	return s
}

func (e *expiring[K, V]) clear() {
	clear(e.items)
	e.order = nil
}

type slotHeap[K comparable, V any] []*slot[K, V]

func (h slotHeap[K, V]) Len() int           { return len(h) }
func (h slotHeap[K, V]) Less(i, j int) bool { return h[i].exp.Before(h[j].exp) }
func (h slotHeap[K, V]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *slotHeap[K, V]) Push(x any) {
	s := x.(*slot[K, V])
	s.index = len(*h)
	*h = append(*h, s)
}
func (h *slotHeap[K, V]) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}
