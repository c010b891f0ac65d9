package ratelimit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"
)

// ErrFull: a request needed a new bucket, the store was at its cap and no
// bucket could be evicted without losing what it counts. Nothing was
// spent; the results still say which requests needed room (Allowed false,
// RetryAfter until the earliest bucket can go).
var ErrFull = errors.New("rate-limit store is full")

// MemoryOptions configure a MemoryStore.
type MemoryOptions struct {
	// MaxBuckets is the hard cap on buckets held at once. Required.
	MaxBuckets int
	// Shards is how many independently locked parts the store has, a
	// power of two; 0 chooses from GOMAXPROCS and MaxBuckets. Each shard
	// holds an equal share of MaxBuckets.
	Shards int
}

// minShardBuckets keeps shares large enough that the random spread of
// buckets over shards fills one share well before the store as a whole.
const minShardBuckets = 4096

// MemoryStore is a Store in process memory with a hard cap on its bucket
// count. See the package documentation for the eviction rule.
type MemoryStore struct {
	seed      maphash.Seed
	shift     uint
	shards    []shard
	buckets   atomic.Int64
	evictions atomic.Uint64
	refusals  atomic.Uint64
}

// NewMemoryStore returns an empty store.
func NewMemoryStore(opts MemoryOptions) (*MemoryStore, error) {
	if opts.MaxBuckets <= 0 {
		return nil, fmt.Errorf("MaxBuckets must be positive, got %d", opts.MaxBuckets)
	}
	if opts.MaxBuckets > 1<<31-1 {
		return nil, fmt.Errorf("MaxBuckets must be at most %d, got %d", 1<<31-1, opts.MaxBuckets)
	}
	n := opts.Shards
	if n == 0 {
		n = 1 << bits.Len(uint(4*runtime.GOMAXPROCS(0)-1))
		n = min(n, 256)
		for n > 1 && opts.MaxBuckets/n < minShardBuckets {
			n /= 2
		}
	}
	if n <= 0 || n&(n-1) != 0 || n > opts.MaxBuckets {
		return nil, fmt.Errorf("MemoryOptions.Shards must be a power of two no larger than MaxBuckets, got %d", opts.Shards)
	}
	m := &MemoryStore{
		seed:   maphash.MakeSeed(),
		shift:  uint(64 - bits.TrailingZeros(uint(n))),
		shards: make([]shard, n),
	}
	for i := range m.shards {
		share := opts.MaxBuckets / n
		if i < opts.MaxBuckets%n {
			share++
		}
		m.shards[i].init(share)
	}
	return m, nil
}

// Buckets is how many buckets the store holds now.
func (m *MemoryStore) Buckets() int { return int(m.buckets.Load()) }

// Evictions counts buckets dropped to make room for new ones.
func (m *MemoryStore) Evictions() uint64 { return m.evictions.Load() }

// Refusals counts TakeAll calls that failed with ErrFull.
func (m *MemoryStore) Refusals() uint64 { return m.refusals.Load() }

// TakeAll implements Store.
func (m *MemoryStore) TakeAll(ctx context.Context, now time.Time, reqs []Request) ([]Result, error) {
	return m.AppendTakeAll(ctx, nil, now, reqs)
}

// AppendTakeAll is TakeAll appending the results to dst, so that a caller
// that reuses dst allocates nothing.
func (m *MemoryStore) AppendTakeAll(ctx context.Context, dst []Result, now time.Time, reqs []Request) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	t, err := unixNanos(now)
	if err != nil {
		return dst, err
	}
	var opsBuf [8]op
	ops := opsBuf[:0]
	if len(reqs) > len(opsBuf) {
		ops = make([]op, 0, len(reqs))
	}
	for i := range reqs {
		r := &reqs[i]
		if err := r.Limit.Validate(); err != nil {
			return dst, err
		}
		if err := r.validate(); err != nil {
			return dst, err
		}
		h := m.bucketHash(r)
		o := op{hash: h, shard: int32(h >> m.shift), leader: int32(i), idx: -1, cum: r.Cost}
		for j := range ops {
			if ops[j].hash == h {
				o.leader = ops[j].leader
				o.cum = ops[j].cum + r.Cost
				if o.cum > r.Limit.Capacity() {
					return dst, fmt.Errorf("limit %q: costs %d in one call over capacity %d: %w", r.Limit.Name, o.cum, r.Limit.Capacity(), ErrCostExceedsCapacity)
				}
			}
		}
		ops = append(ops, o)
	}
	for i := range ops {
		ops[i].total = ops[i].cum
		for j := i + 1; j < len(ops); j++ {
			if ops[j].leader == int32(i) {
				ops[i].total = ops[j].cum
			}
		}
	}

	var locked [8]int32
	shards := locked[:0]
	if len(ops) > len(locked) {
		shards = make([]int32, 0, len(ops))
	}
	for i := range ops {
		shards = insertSorted(shards, ops[i].shard)
	}
	for _, s := range shards {
		m.shards[s].mu.Lock()
	}
	defer func() {
		for _, s := range shards {
			m.shards[s].mu.Unlock()
		}
	}()

	return m.takeLocked(dst, t, reqs, ops)
}

// op is one request's working state inside a TakeAll.
type op struct {
	hash  uint64
	shard int32
	// leader is the first request in the call on the same bucket; the
	// bucket is looked up and updated through it alone.
	leader int32
	idx    int32 // entry index in the shard, -1 for a bucket not stored
	// cum is the cost of this request and those before it on the bucket,
	// total that of every request on it (set on the leader).
	cum, total int64
}

func (m *MemoryStore) takeLocked(dst []Result, now int64, reqs []Request, ops []op) ([]Result, error) {
	allowed := true
	for i := range ops {
		o := &ops[i]
		if o.leader != int32(i) {
			continue
		}
		l := &reqs[i].Limit
		sh := &m.shards[o.shard]
		o.idx = sh.find(o.hash)
		if o.idx < 0 {
			allowed = allowed && o.total <= l.Capacity()
			continue
		}
		e := &sh.entries[o.idx]
		sh.setKind(e, l.Strategy)
		advance(l, &e.cell, sh.ring(e), now)
		allowed = allowed && o.total <= available(l, &e.cell, sh.ring(e), now)
	}

	if allowed && !m.room(now, ops) {
		m.refusals.Add(1)
		return m.refused(dst, now, reqs, ops), ErrFull
	}
	if !allowed {
		for i := range ops {
			dst = append(dst, m.peek(now, &reqs[i], &ops[i], ops))
		}
		return dst, nil
	}

	// Spend on stored buckets, and describe them, before creating new
	// ones: the buckets this call uses are then no longer evictable, or,
	// when they spent nothing, their results are already taken.
	for i := range ops {
		o := &ops[i]
		if o.leader != int32(i) || o.idx < 0 {
			continue
		}
		l := &reqs[i].Limit
		sh := &m.shards[o.shard]
		e := &sh.entries[o.idx]
		consume(l, &e.cell, sh.ring(e), o.total)
		sh.setFullAt(o.idx, fullAt(l, &e.cell, sh.ring(e), now))
	}
	base := len(dst)
	for i := range ops {
		o := &ops[ops[i].leader]
		l := &reqs[i].Limit
		switch {
		case o.idx >= 0:
			sh := &m.shards[o.shard]
			e := &sh.entries[o.idx]
			dst = append(dst, result(l, &e.cell, sh.ring(e), now, true, 0))
		case o.total == 0:
			// A call that spends nothing on a new bucket stores nothing.
			var c cell
			var ring [SlidingSlots]int64
			advance(l, &c, &ring, now)
			dst = append(dst, result(l, &c, &ring, now, true, 0))
		default:
			dst = append(dst, Result{})
		}
	}
	for i := range ops {
		o := &ops[i]
		if o.leader != int32(i) || o.idx >= 0 || o.total == 0 {
			continue
		}
		l := &reqs[i].Limit
		sh := &m.shards[o.shard]
		idx, evicted := sh.insert(o.hash, l.Strategy)
		if evicted {
			m.evictions.Add(1)
		} else {
			m.buckets.Add(1)
		}
		e := &sh.entries[idx]
		ring := sh.ring(e)
		advance(l, &e.cell, ring, now)
		consume(l, &e.cell, ring, o.total)
		sh.setFullAt(idx, fullAt(l, &e.cell, ring, now))
		for j := i; j < len(ops); j++ {
			if ops[j].leader == int32(i) {
				dst[base+j] = result(&reqs[j].Limit, &e.cell, ring, now, true, 0)
			}
		}
	}
	return dst, nil
}

// peek is a request's result when the call spends nothing: its own
// verdict (did its cost, with the costs before it on the same bucket,
// fit?) against the bucket as it stands.
func (m *MemoryStore) peek(now int64, r *Request, o *op, ops []op) Result {
	lead := &ops[o.leader]
	l := &r.Limit
	if lead.idx >= 0 {
		sh := &m.shards[lead.shard]
		e := &sh.entries[lead.idx]
		fits := o.cum <= available(l, &e.cell, sh.ring(e), now)
		return result(l, &e.cell, sh.ring(e), now, fits, o.cum)
	}
	var c cell
	var ring [SlidingSlots]int64
	advance(l, &c, &ring, now)
	fits := o.cum <= available(l, &c, &ring, now)
	return result(l, &c, &ring, now, fits, o.cum)
}

// room reports whether every new bucket the call would create has room in
// its shard, counting free places and evictable buckets the call does not
// itself use.
func (m *MemoryStore) room(now int64, ops []op) bool {
	for i := range ops {
		if !ops[i].creates(i) {
			continue
		}
		// Count the shard's new buckets once, at its first.
		first, need := true, 0
		for j := range ops {
			if ops[j].shard != ops[i].shard || !ops[j].creates(j) {
				continue
			}
			if j < i {
				first = false
				break
			}
			need++
		}
		if first && !m.shards[ops[i].shard].hasRoom(ops[i].shard, now, need, ops) {
			return false
		}
	}
	return true
}

// creates: op i would create a bucket if the call goes through.
func (o *op) creates(i int) bool {
	return o.leader == int32(i) && o.idx < 0 && o.total > 0
}

func (m *MemoryStore) refused(dst []Result, now int64, reqs []Request, ops []op) []Result {
	for i := range ops {
		lead := &ops[ops[i].leader]
		if lead.idx >= 0 || lead.total == 0 {
			dst = append(dst, m.peek(now, &reqs[i], &ops[i], ops))
			continue
		}
		sh := &m.shards[lead.shard]
		r := Result{Limit: reqs[i].Limit}
		if len(sh.heap) > 0 {
			r.RetryAfter = time.Duration(max(sh.entries[sh.heap[0]].fullAt-now, 0))
		}
		dst = append(dst, r)
	}
	return dst
}

// bucketHash identifies a bucket by its key and by every field of its
// limit that gives the stored state its meaning. Limit and Burst are left
// out, so a changed limit applies to what was already spent. Only the hash
// is stored: memory per bucket does not depend on the key's length, and
// under a per-process random seed nobody can aim a key at another's
// bucket (two keys share one by accident with probability ~n²/2⁶⁵).
func (m *MemoryStore) bucketHash(r *Request) uint64 {
	// Each string hashed on its own, then the fixed-size record of them:
	// field boundaries cannot shift, and there is no streaming state to
	// set up per call.
	var b [34]byte
	binary.LittleEndian.PutUint64(b[0:], maphash.String(m.seed, r.Key))
	binary.LittleEndian.PutUint64(b[8:], maphash.String(m.seed, r.Limit.Name))
	binary.LittleEndian.PutUint64(b[16:], uint64(r.Limit.Period))
	b[32] = byte(kindOf(r.Limit.Strategy))
	if r.Limit.Strategy == Quota {
		loc := r.Limit.Location
		if loc == nil {
			loc = time.UTC
		}
		binary.LittleEndian.PutUint64(b[24:], maphash.String(m.seed, loc.String()))
		if r.Limit.Refill == Monthly {
			b[33] = 1
		}
	}
	return maphash.Bytes(m.seed, b[:])
}

func insertSorted(s []int32, v int32) []int32 {
	i := len(s)
	for i > 0 && s[i-1] >= v {
		if s[i-1] == v {
			return s
		}
		i--
	}
	s = append(s, 0)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}
