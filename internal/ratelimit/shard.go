package ratelimit

import "sync"

// shard is one locked part of a MemoryStore. Its arrays hold no pointer,
// so the garbage collector never scans them, and they never grow past the
// shard's share of the cap: evicted places are reused in place.
type shard struct {
	mu  sync.Mutex
	max int
	// entries are the buckets; their places never move.
	entries []entry
	// table maps a bucket hash to its entry: open addressing with linear
	// probing, holding entry index + 1 (0 is empty). Deletion shifts
	// entries back instead of leaving tombstones, so churn never grows it.
	table []int32
	// heap orders entries by fullAt, the earliest first: the eviction
	// candidate.
	heap []int32
	// rings are the slots of SlidingWindow buckets, kept apart so that
	// other buckets do not pay for them; free lists evicted ones.
	rings [][SlidingSlots]int64
	free  []int32
	// Keeps neighbouring shards' locks off one cache line.
	_ [64]byte
}

type entry struct {
	hash   uint64
	fullAt int64
	cell   cell
	pos    int32 // in heap
	ring   int32 // in rings, -1 for none
	kind   kind
}

// kind is a Strategy in one byte, so that entries hold no pointer.
type kind uint8

func kindOf(s Strategy) kind {
	switch s {
	case FixedWindow:
		return 1
	case SlidingWindow:
		return 2
	case TokenBucket:
		return 3
	case Quota:
		return 4
	}
	return 0
}

func (s *shard) init(share int) {
	s.max = share
	s.table = make([]int32, 16)
}

func (s *shard) ring(e *entry) *[SlidingSlots]int64 {
	if e.ring < 0 {
		return nil
	}
	return &s.rings[e.ring]
}

// find returns the entry index of hash h, or -1.
func (s *shard) find(h uint64) int32 {
	mask := uint64(len(s.table) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		v := s.table[i]
		if v == 0 {
			return -1
		}
		if s.entries[v-1].hash == h {
			return v - 1
		}
	}
}

func (s *shard) index(h uint64, idx int32) {
	mask := uint64(len(s.table) - 1)
	i := h & mask
	for s.table[i] != 0 {
		i = (i + 1) & mask
	}
	s.table[i] = idx + 1
}

func (s *shard) unindex(h uint64) {
	mask := uint64(len(s.table) - 1)
	i := h & mask
	for s.entries[s.table[i]-1].hash != h {
		i = (i + 1) & mask
	}
	// Backward shift: move later entries of the probe run into the hole
	// unless that would put them before their home slot.
	for j := i; ; {
		j = (j + 1) & mask
		v := s.table[j]
		if v == 0 {
			s.table[i] = 0
			return
		}
		home := s.entries[v-1].hash & mask
		if (j-home)&mask >= (j-i)&mask {
			s.table[i] = v
			i = j
		}
	}
}

// growTable makes room for n entries while keeping the table at most
// three quarters full, so that probe runs stay short.
func (s *shard) growTable(n int) {
	if n*4 <= len(s.table)*3 {
		return
	}
	s.table = make([]int32, 2*len(s.table))
	for i := range s.entries {
		s.index(s.entries[i].hash, int32(i))
	}
}

// hasRoom reports whether need new buckets fit: free places, then buckets
// already full at now that the call in ops does not use.
func (s *shard) hasRoom(self int32, now int64, need int, ops []op) bool {
	need -= s.max - len(s.entries)
	if need <= 0 {
		return true
	}
	// Full entries form a subtree at the top of the heap; walk only it.
	var stackBuf [32]int32
	stack := append(stackBuf[:0], 0)
	for len(stack) > 0 && need > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if int(p) >= len(s.heap) {
			continue
		}
		idx := s.heap[p]
		if s.entries[idx].fullAt > now {
			continue
		}
		if !usedBy(self, idx, ops) {
			need--
		}
		stack = append(stack, 2*p+1, 2*p+2)
	}
	return need <= 0
}

func usedBy(shard, idx int32, ops []op) bool {
	for i := range ops {
		if ops[i].shard == shard && ops[i].idx == idx {
			return true
		}
	}
	return false
}

// insert makes a new entry for h, taking a free place or evicting the
// earliest-full bucket; hasRoom must have said there is room.
func (s *shard) insert(h uint64, st Strategy) (idx int32, evicted bool) {
	if len(s.entries) < s.max {
		if len(s.entries) == cap(s.entries) {
			grown := make([]entry, len(s.entries), min(max(2*cap(s.entries), 16), s.max))
			copy(grown, s.entries)
			s.entries = grown
			heap := make([]int32, len(s.heap), cap(grown))
			copy(heap, s.heap)
			s.heap = heap
		}
		s.growTable(len(s.entries) + 1)
		idx = int32(len(s.entries))
		s.entries = append(s.entries, entry{hash: h, fullAt: neverFull, pos: int32(len(s.heap)), ring: -1})
		s.heap = append(s.heap, idx)
		s.up(len(s.heap) - 1)
		s.index(h, idx)
	} else {
		idx = s.heap[0]
		e := &s.entries[idx]
		s.unindex(e.hash)
		e.hash = h
		e.cell = cell{}
		if e.ring >= 0 {
			s.rings[e.ring] = [SlidingSlots]int64{}
		}
		s.index(h, idx)
		evicted = true
	}
	s.setKind(&s.entries[idx], st)
	return idx, evicted
}

// setKind gives e the state of a new bucket of kind unless it has it
// already. Entries of different strategies meet only on a hash collision.
func (s *shard) setKind(e *entry, st Strategy) {
	k := kindOf(st)
	if e.kind == k {
		return
	}
	e.cell = cell{}
	if e.ring >= 0 && st != SlidingWindow {
		s.free = append(s.free, e.ring)
		e.ring = -1
	}
	if st == SlidingWindow {
		if e.ring < 0 {
			e.ring = s.newRing()
		}
		s.rings[e.ring] = [SlidingSlots]int64{}
	}
	e.kind = k
}

func (s *shard) newRing() int32 {
	if n := len(s.free); n > 0 {
		r := s.free[n-1]
		s.free = s.free[:n-1]
		return r
	}
	if len(s.rings) == cap(s.rings) {
		grown := make([][SlidingSlots]int64, len(s.rings), min(max(2*cap(s.rings), 4), s.max))
		copy(grown, s.rings)
		s.rings = grown
	}
	s.rings = append(s.rings, [SlidingSlots]int64{})
	return int32(len(s.rings) - 1)
}

func (s *shard) setFullAt(idx int32, at int64) {
	e := &s.entries[idx]
	old := e.fullAt
	e.fullAt = at
	switch {
	case at < old:
		s.up(int(e.pos))
	case at > old:
		s.down(int(e.pos))
	}
}

func (s *shard) less(i, j int) bool {
	return s.entries[s.heap[i]].fullAt < s.entries[s.heap[j]].fullAt
}

func (s *shard) swap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.entries[s.heap[i]].pos = int32(i)
	s.entries[s.heap[j]].pos = int32(j)
}

func (s *shard) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s *shard) down(i int) {
	n := len(s.heap)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && s.less(c+1, c) {
			c++
		}
		if !s.less(c, i) {
			return
		}
		s.swap(i, c)
		i = c
	}
}
