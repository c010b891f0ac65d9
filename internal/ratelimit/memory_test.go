package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func newMemory(t testing.TB, opts MemoryOptions) *MemoryStore {
	t.Helper()
	m, err := NewMemoryStore(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkInvariants looks inside every shard: the cap holds, the table
// finds every entry, the heap is ordered, rings belong to one entry each.
func checkInvariants(t testing.TB, m *MemoryStore) {
	t.Helper()
	total := 0
	for si := range m.shards {
		s := &m.shards[si]
		s.mu.Lock()
		if len(s.entries) > s.max || len(s.heap) != len(s.entries) {
			t.Fatalf("shard %d: %d entries, %d in heap, max %d", si, len(s.entries), len(s.heap), s.max)
		}
		used := 0
		for _, v := range s.table {
			if v != 0 {
				used++
			}
		}
		if used != len(s.entries) {
			t.Fatalf("shard %d: table holds %d, entries %d", si, used, len(s.entries))
		}
		rings := map[int32]bool{}
		for _, r := range s.free {
			rings[r] = true
		}
		for i := range s.entries {
			e := &s.entries[i]
			if got := s.find(e.hash); got != int32(i) {
				t.Fatalf("shard %d: entry %d found at %d", si, i, got)
			}
			if s.heap[e.pos] != int32(i) {
				t.Fatalf("shard %d: entry %d not at its heap position", si, i)
			}
			if e.pos > 0 && s.entries[s.heap[(e.pos-1)/2]].fullAt > e.fullAt {
				t.Fatalf("shard %d: heap out of order at %d", si, e.pos)
			}
			if (e.kind == kindOf(SlidingWindow)) != (e.ring >= 0) {
				t.Fatalf("shard %d: entry %d of kind %d has ring %d", si, i, e.kind, e.ring)
			}
			if e.ring >= 0 {
				if rings[e.ring] {
					t.Fatalf("shard %d: ring %d used twice", si, e.ring)
				}
				rings[e.ring] = true
			}
		}
		if len(rings) != len(s.rings) {
			t.Fatalf("shard %d: %d rings, %d accounted for", si, len(s.rings), len(rings))
		}
		total += len(s.entries)
		s.mu.Unlock()
	}
	if total != m.Buckets() {
		t.Fatalf("Buckets() = %d, shards hold %d", m.Buckets(), total)
	}
}

func TestMemoryStoreCases(t *testing.T) {
	runStoreCases(t, func(t *testing.T) Store { return newMemory(t, MemoryOptions{MaxBuckets: 100}) })
}

// TestMemoryStoreAgreesWithTheModel: with room to spare, and with so
// little that buckets are evicted all the time, the store answers as the
// uncapped model does. Eviction is invisible.
func TestMemoryStoreAgreesWithTheModel(t *testing.T) {
	cases := map[string]struct {
		opts       MemoryOptions
		evicts     bool
		minCompare int
	}{
		"room to spare":           {MemoryOptions{MaxBuckets: 1000}, false, 4500},
		"cap below working set":   {MemoryOptions{MaxBuckets: 12, Shards: 1}, true, 500},
		"small shards":            {MemoryOptions{MaxBuckets: 16, Shards: 4}, true, 500},
		"one bucket in each of 8": {MemoryOptions{MaxBuckets: 8, Shards: 8}, true, 100},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			m := newMemory(t, tc.opts)
			for seed := range uint64(4) {
				compared := runStoreAgreement(t, m, seed, 5000)
				g.Expect(compared).To(BeNumerically(">=", tc.minCompare))
				checkInvariants(t, m)
				m = newMemory(t, tc.opts)
			}
			runStoreAgreement(t, m, 99, 5000)
			g.Expect(m.Evictions() > 0).To(Equal(tc.evicts))
			g.Expect(m.Buckets()).To(BeNumerically("<=", tc.opts.MaxBuckets))
		})
	}
}

func TestMemoryStoreAllOrNothing(t *testing.T) {
	perSecond := Limit{Name: "per-second", Strategy: FixedWindow, Limit: 10, Period: time.Second}
	perDay := Limit{Name: "per-day", Strategy: Quota, Limit: 3, Refill: Daily}
	tokens := Limit{Name: "tokens", Strategy: TokenBucket, Limit: 1, Period: time.Second, Burst: 5}
	cases := map[string]struct {
		calls [][]Request
		// the last call's verdicts and what each bucket has left after it
		allowed []bool
		left    []int64
	}{
		"day quota refuses, second not spent": {
			calls: [][]Request{
				{{Key: "k", Limit: perSecond, Cost: 1}, {Key: "k", Limit: perDay, Cost: 3}},
				{{Key: "k", Limit: perSecond, Cost: 1}, {Key: "k", Limit: perDay, Cost: 1}},
			},
			allowed: []bool{true, false},
			left:    []int64{9, 0},
		},
		"second refuses, day not spent": {
			calls: [][]Request{
				{{Key: "k", Limit: perSecond, Cost: 10}, {Key: "k", Limit: perDay, Cost: 1}},
				{{Key: "k", Limit: perSecond, Cost: 1}, {Key: "k", Limit: perDay, Cost: 1}},
			},
			allowed: []bool{false, true},
			left:    []int64{0, 2},
		},
		"new bucket refused with the call creates nothing": {
			calls: [][]Request{
				{{Key: "k", Limit: perDay, Cost: 3}},
				{{Key: "other", Limit: tokens, Cost: 5}, {Key: "k", Limit: perDay, Cost: 1}},
			},
			allowed: []bool{true, false},
			left:    []int64{5, 0},
		},
		"same bucket twice in one call adds up": {
			calls: [][]Request{
				{{Key: "k", Limit: tokens, Cost: 2}, {Key: "k", Limit: tokens, Cost: 2}},
			},
			allowed: []bool{true, true},
			left:    []int64{1, 1},
		},
		"same bucket twice, second over": {
			calls: [][]Request{
				{{Key: "k", Limit: tokens, Cost: 2}},
				{{Key: "k", Limit: tokens, Cost: 2}, {Key: "k", Limit: tokens, Cost: 2}},
			},
			allowed: []bool{true, false},
			left:    []int64{3, 3},
		},
		"owner limit shared by two keys": {
			calls: [][]Request{
				{{Key: "key-1", Limit: perSecond, Cost: 1}, {Key: "owner/acme", Limit: perDay, Cost: 2}},
				{{Key: "key-2", Limit: perSecond, Cost: 1}, {Key: "owner/acme", Limit: perDay, Cost: 2}},
			},
			allowed: []bool{true, false},
			left:    []int64{10, 1},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			m := newMemory(t, MemoryOptions{MaxBuckets: 10})
			var res []Result
			for _, call := range tc.calls {
				var err error
				res, err = m.TakeAll(context.Background(), t0, call)
				g.Expect(err).NotTo(HaveOccurred())
			}
			last := tc.calls[len(tc.calls)-1]
			for i := range last {
				g.Expect(res[i].Allowed).To(Equal(tc.allowed[i]), "request %d", i)
				peek := last[i]
				peek.Cost = 0
				now, err := m.TakeAll(context.Background(), t0, []Request{peek})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(now[0].Remaining).To(Equal(tc.left[i]), "request %d", i)
			}
			checkInvariants(t, m)
		})
	}
}

func TestMemoryStoreRefusesBadCalls(t *testing.T) {
	ok := Limit{Name: "ok", Strategy: FixedWindow, Limit: 5, Period: time.Second}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := map[string]struct {
		ctx  context.Context
		now  time.Time
		reqs []Request
		want error
	}{
		"invalid limit":           {context.Background(), t0, []Request{{Key: "k", Limit: ok, Cost: 1}, {Key: "k", Limit: Limit{Name: "bad"}, Cost: 1}}, &LimitError{}},
		"cost over capacity":      {context.Background(), t0, []Request{{Key: "k", Limit: ok, Cost: 6}}, ErrCostExceedsCapacity},
		"costs over capacity":     {context.Background(), t0, []Request{{Key: "k", Limit: ok, Cost: 3}, {Key: "k", Limit: ok, Cost: 3}}, ErrCostExceedsCapacity},
		"negative cost":           {context.Background(), t0, []Request{{Key: "k", Limit: ok, Cost: -1}}, ErrInvalidRequest},
		"empty key":               {context.Background(), t0, []Request{{Limit: ok, Cost: 1}}, ErrInvalidRequest},
		"zero time":               {context.Background(), time.Time{}, []Request{{Key: "k", Limit: ok, Cost: 1}}, ErrInvalidRequest},
		"caller gave up":          {cancelled, t0, []Request{{Key: "k", Limit: ok, Cost: 1}}, context.Canceled},
		"more requests than fast": {context.Background(), t0, manyRequests(ok, 20, 6), ErrCostExceedsCapacity},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			m := newMemory(t, MemoryOptions{MaxBuckets: 10})
			_, err := m.TakeAll(tc.ctx, tc.now, tc.reqs)
			if le, isLimitErr := tc.want.(*LimitError); isLimitErr {
				g.Expect(err).To(BeAssignableToTypeOf(le))
			} else {
				g.Expect(err).To(MatchError(tc.want))
			}
			g.Expect(m.Buckets()).To(Equal(0))
		})
	}
}

// manyRequests is n requests of cost 1 on distinct keys, then one more on
// the first key costing last, past the call's small-array fast path.
func manyRequests(l Limit, n int, last int64) []Request {
	reqs := make([]Request, 0, n+1)
	for i := range n {
		reqs = append(reqs, Request{Key: "k" + strconv.Itoa(i), Limit: l, Cost: 1})
	}
	return append(reqs, Request{Key: "k0", Limit: l, Cost: last})
}

func TestMemoryStoreManyRequestsInOneCall(t *testing.T) {
	g := NewWithT(t)
	l := Limit{Name: "l", Strategy: FixedWindow, Limit: 5, Period: time.Second}
	m := newMemory(t, MemoryOptions{MaxBuckets: 100, Shards: 8})
	res, err := m.TakeAll(context.Background(), t0, manyRequests(l, 20, 4))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res).To(HaveLen(21))
	g.Expect(res[0].Remaining).To(Equal(int64(0)))
	g.Expect(res[1].Remaining).To(Equal(int64(4)))
	g.Expect(m.Buckets()).To(Equal(20))
	checkInvariants(t, m)
}

func TestNewMemoryStore(t *testing.T) {
	cases := map[string]struct {
		opts   MemoryOptions
		err    string
		shards int // 0: any power of two with shares of minShardBuckets
	}{
		"small store, one shard": {MemoryOptions{MaxBuckets: 100}, "", 1},
		"chosen shards":          {MemoryOptions{MaxBuckets: 1 << 20}, "", 0},
		"given shards":           {MemoryOptions{MaxBuckets: 100, Shards: 4}, "", 4},
		"no cap":                 {MemoryOptions{}, "MaxBuckets must be positive, got 0", 0},
		"negative cap":           {MemoryOptions{MaxBuckets: -1}, "MaxBuckets must be positive, got -1", 0},
		"shards not a power":     {MemoryOptions{MaxBuckets: 100, Shards: 3}, "MemoryOptions.Shards must be a power of two no larger than MaxBuckets, got 3", 0},
		"more shards than cap":   {MemoryOptions{MaxBuckets: 2, Shards: 4}, "MemoryOptions.Shards must be a power of two no larger than MaxBuckets, got 4", 0},
		"negative shards":        {MemoryOptions{MaxBuckets: 2, Shards: -2}, "MemoryOptions.Shards must be a power of two no larger than MaxBuckets, got -2", 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			m, err := NewMemoryStore(tc.opts)
			if tc.err != "" {
				g.Expect(err).To(MatchError(tc.err))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			n := len(m.shards)
			g.Expect(n & (n - 1)).To(BeZero())
			if tc.shards != 0 {
				g.Expect(n).To(Equal(tc.shards))
			} else {
				g.Expect(tc.opts.MaxBuckets / n).To(BeNumerically(">=", minShardBuckets))
			}
			sum := 0
			for i := range m.shards {
				sum += m.shards[i].max
			}
			g.Expect(sum).To(Equal(tc.opts.MaxBuckets))
		})
	}
}

// TestMemoryStoreEvictsOnlyFullBuckets: at the cap, a new bucket replaces
// one that holds nothing any more, the earliest to have become so; while
// every bucket still counts something, new keys are refused and nothing
// is evicted.
func TestMemoryStoreEvictsOnlyFullBuckets(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	second := Limit{Name: "s", Strategy: TokenBucket, Limit: 1, Period: time.Second}
	slow := Limit{Name: "slow", Strategy: TokenBucket, Limit: 1, Period: time.Hour}
	m := newMemory(t, MemoryOptions{MaxBuckets: 4, Shards: 1})
	take := func(at time.Duration, key string, l Limit) ([]Result, error) {
		return m.TakeAll(ctx, t0.Add(at), []Request{{Key: key, Limit: l, Cost: 1}})
	}

	// The victim spends its hour's token first; three others their
	// second's, staggered.
	_, err := take(0, "victim", slow)
	g.Expect(err).NotTo(HaveOccurred())
	for i, at := range []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond} {
		_, err := take(at, "k"+strconv.Itoa(i), second)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(m.Buckets()).To(Equal(4))

	// Nothing is full before 1 s: a new key is refused, with the time
	// until k0 will be.
	res, err := take(500*time.Millisecond, "new", second)
	g.Expect(err).To(MatchError(ErrFull))
	g.Expect(res).To(Equal([]Result{{Limit: second, RetryAfter: 500 * time.Millisecond}}))
	g.Expect(m.Refusals()).To(Equal(uint64(1)))
	g.Expect(m.Evictions()).To(BeZero())
	// Known keys are still served by their own limits.
	res, err = take(500*time.Millisecond, "k2", second)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res[0].Allowed).To(BeFalse())

	// At 1.1 s k0 is full; the new key takes its place.
	_, err = take(1100*time.Millisecond, "new", second)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.Evictions()).To(Equal(uint64(1)))
	g.Expect(m.Buckets()).To(Equal(4))

	// A flood of ten times the cap in new keys, over half an hour: each
	// second a few places free up and are taken, the victim's never.
	refusedBefore := m.Refusals()
	for i := range 40 {
		at := 2*time.Second + time.Duration(i)*45*time.Second
		_, err := take(at, "flood-"+strconv.Itoa(i), second)
		if err != nil {
			g.Expect(err).To(MatchError(ErrFull))
		}
		g.Expect(m.Buckets()).To(BeNumerically("<=", 4))
	}
	g.Expect(m.Evictions()).To(BeNumerically(">=", 30))
	g.Expect(m.Refusals()).To(Equal(refusedBefore))
	res, err = take(31*time.Minute, "victim", slow)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res[0].Allowed).To(BeFalse(), "the flood reset the victim's bucket")
	g.Expect(res[0].RetryAfter).To(Equal(29 * time.Minute))
	checkInvariants(t, m)
}

// TestMemoryStoreFlood pushes ten times the cap in distinct keys through
// the store, sampling the bucket count after every call: with a frozen
// clock (nothing ever becomes evictable: refusals) and with one that
// moves (evictions), sequentially and from many goroutines.
func TestMemoryStoreFlood(t *testing.T) {
	const maxBuckets = 1000
	l := Limit{Name: "per-second", Strategy: SlidingWindow, Limit: 10, Period: time.Second}
	const either = -1
	cases := map[string]struct {
		step       time.Duration // clock advance per call
		goroutines int
		// whether there are refusals, evictions: 1, 0 or either
		refusals, evictions int
	}{
		"frozen clock":             {0, 1, 1, 0},
		"moving clock":             {10 * time.Millisecond, 1, 0, 1},
		"frozen clock, concurrent": {0, 8, 1, 0},
		// A goroutine that read an early time and runs late finds every
		// bucket younger than its clock, none evictable, and is refused.
		"moving clock, concurrent": {10 * time.Millisecond, 8, either, 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			m := newMemory(t, MemoryOptions{MaxBuckets: maxBuckets, Shards: 4})
			var next atomic.Int64
			var over atomic.Int64
			var wg sync.WaitGroup
			for range tc.goroutines {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > 10*maxBuckets {
							return
						}
						now := t0.Add(time.Duration(i) * tc.step)
						_, err := m.TakeAll(context.Background(), now, []Request{{Key: "flood-" + strconv.FormatInt(i, 10), Limit: l, Cost: 1}})
						if err != nil && !errors.Is(err, ErrFull) {
							t.Error(err)
							return
						}
						if m.Buckets() > maxBuckets {
							over.Add(1)
						}
					}
				})
			}
			wg.Wait()
			g.Expect(over.Load()).To(BeZero())
			g.Expect(m.Buckets()).To(BeNumerically("<=", maxBuckets))
			if tc.refusals != either {
				g.Expect(m.Refusals() > 0).To(Equal(tc.refusals == 1))
			}
			g.Expect(m.Evictions() > 0).To(Equal(tc.evictions == 1))
			// Every call either found room or was refused.
			g.Expect(uint64(m.Buckets()) + m.Evictions() + m.Refusals()).To(Equal(uint64(10 * maxBuckets)))
			checkInvariants(t, m)
		})
	}
}

// TestMemoryStoreConcurrent: many goroutines on shared and distinct
// buckets at one instant; what is admitted in total is exactly what the
// limits allow, never more.
func TestMemoryStoreConcurrent(t *testing.T) {
	const goroutines, calls = 32, 60
	fixed := Limit{Name: "fixed", Strategy: FixedWindow, Limit: 500, Period: time.Minute}
	sliding := Limit{Name: "sliding", Strategy: SlidingWindow, Limit: 450, Period: time.Minute}
	tokens := Limit{Name: "tokens", Strategy: TokenBucket, Limit: 10, Period: time.Second, Burst: 400}
	daily := Limit{Name: "daily", Strategy: Quota, Limit: 300, Refill: Daily}
	perKey := Limit{Name: "per-key", Strategy: FixedWindow, Limit: 20, Period: time.Minute}
	cases := map[string]struct {
		reqs func(g int) []Request
		want int64 // calls admitted in all
	}{
		"shared fixed window":  {func(int) []Request { return []Request{{Key: "shared", Limit: fixed, Cost: 1}} }, 500},
		"shared sliding":       {func(int) []Request { return []Request{{Key: "shared", Limit: sliding, Cost: 1}} }, 450},
		"shared token bucket":  {func(int) []Request { return []Request{{Key: "shared", Limit: tokens, Cost: 1}} }, 400},
		"shared quota, cost 3": {func(int) []Request { return []Request{{Key: "shared", Limit: daily, Cost: 3}} }, 100},
		"second and day on one key": {func(int) []Request {
			return []Request{{Key: "shared", Limit: fixed, Cost: 1}, {Key: "shared", Limit: daily, Cost: 1}}
		}, 300},
		"own key and shared owner": {func(g int) []Request {
			return []Request{{Key: "key-" + strconv.Itoa(g), Limit: perKey, Cost: 1}, {Key: "owner", Limit: daily, Cost: 1}}
		}, 300},
		"own keys only": {func(g int) []Request {
			return []Request{{Key: "key-" + strconv.Itoa(g), Limit: perKey, Cost: 1}}
		}, goroutines * 20},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			m := newMemory(t, MemoryOptions{MaxBuckets: 1000, Shards: 8})
			var admitted, perGoroutineOver atomic.Int64
			var wg sync.WaitGroup
			for gi := range goroutines {
				wg.Go(func() {
					reqs := tc.reqs(gi)
					mine := 0
					for range calls {
						res, err := m.TakeAll(context.Background(), t0, reqs)
						if err != nil {
							t.Error(err)
							return
						}
						if allAllowed(res) {
							admitted.Add(1)
							mine++
						}
					}
					if mine > 20 && len(reqs) == 2 && reqs[0].Limit == perKey {
						perGoroutineOver.Add(1)
					}
				})
			}
			wg.Wait()
			g.Expect(admitted.Load()).To(Equal(tc.want))
			g.Expect(perGoroutineOver.Load()).To(BeZero())
			checkInvariants(t, m)
		})
	}
}

// TestMemoryStoreConcurrentMovingClock: goroutines read a shared
// simulated clock that moves on every call, so their times arrive out of
// order; a token bucket still admits no more than its burst plus what
// refilled up to the latest time.
func TestMemoryStoreConcurrentMovingClock(t *testing.T) {
	g := NewWithT(t)
	l := Limit{Name: "tokens", Strategy: TokenBucket, Limit: 100, Period: time.Second, Burst: 50}
	m := newMemory(t, MemoryOptions{MaxBuckets: 10})
	var clock, admitted atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 500 {
				now := t0.Add(time.Duration(clock.Add(int64(100 * time.Microsecond))))
				res, err := m.TakeAll(context.Background(), now, []Request{{Key: "k", Limit: l, Cost: 1}})
				if err != nil {
					t.Error(err)
					return
				}
				if res[0].Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Duration(clock.Load())
	g.Expect(admitted.Load()).To(BeNumerically("<=", 50+int64(elapsed*100/time.Second)))
	// The bucket is far from idle: most of what refilled was taken.
	g.Expect(admitted.Load()).To(BeNumerically(">=", int64(elapsed*100/time.Second)*9/10))
}

func allAllowed(res []Result) bool {
	for _, r := range res {
		if !r.Allowed {
			return false
		}
	}
	return true
}

func TestAppendTakeAllAllocatesNothing(t *testing.T) {
	limits := []Limit{
		{Name: "fixed", Strategy: FixedWindow, Limit: 1 << 40, Period: time.Second},
		{Name: "sliding", Strategy: SlidingWindow, Limit: 1 << 40, Period: time.Second},
		{Name: "tokens", Strategy: TokenBucket, Limit: 1 << 40, Period: time.Second},
		{Name: "quota", Strategy: Quota, Limit: 1 << 40, Refill: Monthly, Location: mustZone("Europe/Berlin")},
	}
	for _, l := range limits {
		t.Run(l.Name, func(t *testing.T) {
			g := NewWithT(t)
			m := newMemory(t, MemoryOptions{MaxBuckets: 10})
			reqs := []Request{{Key: "acme/key-1", Limit: l, Cost: 1}, {Key: "owner/acme", Limit: l, Cost: 1}}
			dst := make([]Result, 0, 2)
			now := t0
			allocs := testing.AllocsPerRun(1000, func() {
				now = now.Add(time.Millisecond)
				var err error
				dst, err = m.AppendTakeAll(context.Background(), dst[:0], now, reqs)
				if err != nil || !allAllowed(dst) {
					panic(fmt.Sprint(err, dst))
				}
			})
			g.Expect(allocs).To(BeZero())
		})
	}
}
