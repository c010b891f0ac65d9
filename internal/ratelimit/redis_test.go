package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// redisT0 begins a minute, a second and a day in UTC, so that the tests'
// windows start with it.
var redisT0 = time.Date(2030, time.January, 15, 12, 0, 0, 0, time.UTC)

func redisReq(key string, l Limit, cost int64) Request {
	return Request{Key: key, Limit: l, Cost: cost}
}

func redisMemoryStore(t *testing.T) *MemoryStore {
	t.Helper()
	m, err := NewMemoryStore(MemoryOptions{MaxBuckets: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRedisStoreCases(t *testing.T) {
	srv := testutil.StartRedisServer(t)
	client := srv.Client()
	var n atomic.Int64
	runStoreCases(t, func(t *testing.T) Store {
		return NewRedisStore(client, RedisOptions{Prefix: fmt.Sprintf("case%d:", n.Add(1))})
	})
}

// TestRedisStoreDecidesAsTheMemoryStore plays the same random calls
// against both stores on a simulated clock: several limits per call,
// requests on the same bucket in one call, a clock that sometimes steps
// back, and limits whose times, fractions of a token and slot numbers go
// past what a double holds exactly.
func TestRedisStoreDecidesAsTheMemoryStore(t *testing.T) {
	plus5 := time.FixedZone("UTC+5:30", 5*3600+1800)
	t.Run("every strategy", func(t *testing.T) {
		redisDifferential(t, redisT0, 8000, []Limit{
			{Name: "fixed", Strategy: FixedWindow, Limit: 5, Period: time.Second},
			{Name: "fixed-odd", Strategy: FixedWindow, Limit: 1000, Period: 7*time.Millisecond + 3},
			{Name: "fixed-ns", Strategy: FixedWindow, Limit: 2, Period: 1},
			{Name: "sliding", Strategy: SlidingWindow, Limit: 4, Period: 3100 * time.Millisecond},
			{Name: "sliding-second", Strategy: SlidingWindow, Limit: 50, Period: time.Second},
			{Name: "thirds", Strategy: TokenBucket, Limit: 3, Period: time.Second, Burst: 5},
			{Name: "primes", Strategy: TokenBucket, Limit: 7919, Period: 1000003 * time.Microsecond},
			// Deficits of 8·10^13 tokens in 1/Period units: 10^26 and more.
			{Name: "huge", Strategy: TokenBucket, Limit: 1_000_000_000, Period: time.Hour, Burst: 80_000_000_000_000},
			{Name: "daily", Strategy: Quota, Limit: 20, Refill: Daily, Location: plus5},
			{Name: "monthly", Strategy: Quota, Limit: 100, Refill: Monthly},
		}, []time.Duration{time.Microsecond, time.Millisecond, 30 * time.Millisecond, 400 * time.Millisecond, 3 * time.Second, 3 * time.Hour, 10 * 24 * time.Hour})
	})
	// Slots of a few tens of nanoseconds: slot numbers beyond 2^53, and
	// windows that do not end where a slot does.
	t.Run("sliding windows of microseconds", func(t *testing.T) {
		redisDifferential(t, redisT0, 3000, []Limit{
			{Name: "tiny", Strategy: SlidingWindow, Limit: 3, Period: time.Microsecond},
			{Name: "odd", Strategy: SlidingWindow, Limit: 5, Period: 2*time.Microsecond + 7},
		}, []time.Duration{10, 100, time.Microsecond, 5 * time.Microsecond})
	})
	// The first slots and windows after the epoch, where no slot before
	// slot 0 and no window before the first may count.
	t.Run("from the epoch", func(t *testing.T) {
		redisDifferential(t, time.Unix(0, 0), 2000, []Limit{
			{Name: "tiny", Strategy: SlidingWindow, Limit: 3, Period: time.Microsecond},
			{Name: "sliding", Strategy: SlidingWindow, Limit: 4, Period: 3100 * time.Millisecond},
			{Name: "fixed", Strategy: FixedWindow, Limit: 5, Period: time.Second},
			{Name: "bucket", Strategy: TokenBucket, Limit: 2, Period: time.Second, Burst: 4},
		}, []time.Duration{10, 100, time.Microsecond, 30 * time.Millisecond, 400 * time.Millisecond})
	})
}

func redisDifferential(t *testing.T, start time.Time, calls int, limits []Limit, scales []time.Duration) {
	g := NewWithT(t)
	srv := testutil.StartRedisServer(t)
	redisStore := NewRedisStore(srv.Client(), RedisOptions{})
	// Simulated time runs far ahead of the real one; expiry must not
	// forget what the simulated clock still counts.
	redisStore.slack = 24 * time.Hour
	mem := redisMemoryStore(t)

	keys := []string{"acme/k1", "acme/k2", "globex/k1"}
	rng := rand.New(rand.NewPCG(7, 11))
	cost := func(l Limit) int64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return 1
		case 2:
			return l.Capacity()/2 + rng.Int64N(l.Capacity()/2+1)
		default:
			return rng.Int64N(l.Capacity() + 1)
		}
	}
	// The clock moves at one scale for a while, then at another, so that
	// every limit sees both steps within its period and steps past it;
	// now and then it steps back, as clocks read on different goroutines
	// or replicas do.
	var scale time.Duration
	step := func() time.Duration {
		if rng.IntN(10) == 0 {
			return -time.Duration(rng.Int64N(int64(scale)/4 + 1))
		}
		return time.Duration(rng.Int64N(int64(scale) + 1))
	}

	ctx := context.Background()
	now := start
	spent := 0
	for i := range calls {
		if i%200 == 0 {
			scale = scales[rng.IntN(len(scales))]
		}
		if now = now.Add(step()); now.Before(start) {
			now = start
		}
		reqs := make([]Request, 1+rng.IntN(3))
		for j := range reqs {
			if j > 0 && rng.IntN(4) == 0 {
				// Another request on a bucket of this call.
				reqs[j] = reqs[rng.IntN(j)]
				reqs[j].Cost = rng.Int64N(2)
				continue
			}
			l := limits[rng.IntN(len(limits))]
			reqs[j] = Request{Key: keys[rng.IntN(len(keys))], Limit: l, Cost: cost(l)}
		}
		want, wantErr := mem.TakeAll(ctx, now, reqs)
		got, err := redisStore.TakeAll(ctx, now, reqs)
		if wantErr != nil {
			// The same error; its message may add up costs differently.
			g.Expect(err).To(HaveOccurred(), "call %d at %v: %+v", i, now, reqs)
			for _, e := range []error{ErrCostExceedsCapacity, ErrInvalidRequest} {
				g.Expect(errors.Is(err, e)).To(Equal(errors.Is(wantErr, e)), "call %d: %v, want %v", i, err, wantErr)
			}
			continue
		}
		g.Expect(err).NotTo(HaveOccurred(), "call %d at %v: %+v", i, now, reqs)
		g.Expect(got).To(Equal(want), "call %d at %v: %+v", i, now, reqs)
		if len(want) > 0 && want[0].Allowed {
			spent++
		}
	}
	t.Logf("%d of %d calls spent", spent, calls)
}

func TestRedisStoreAllOrNothing(t *testing.T) {
	srv := testutil.StartRedisServer(t)
	perSecond := Limit{Name: "per-second", Strategy: FixedWindow, Limit: 10, Period: time.Second}
	daily := Limit{Name: "daily", Strategy: Quota, Limit: 3, Refill: Daily}
	bucket := Limit{Name: "bucket", Strategy: TokenBucket, Limit: 1, Period: time.Minute, Burst: 2}
	ok := func(l Limit, remaining int64, reset time.Duration) Result {
		return Result{Limit: l, Allowed: true, Remaining: remaining, Reset: reset}
	}
	no := func(l Limit, remaining int64, reset, retry time.Duration) Result {
		return Result{Limit: l, Remaining: remaining, Reset: reset, RetryAfter: retry}
	}
	steps := []struct {
		reqs []Request
		want []Result
	}{
		{[]Request{redisReq("k", perSecond, 1), redisReq("k", daily, 3)},
			[]Result{ok(perSecond, 9, time.Second), ok(daily, 0, 12*time.Hour)}},
		// The quota refuses, so the per-second limit, which has room,
		// keeps what it had.
		{[]Request{redisReq("k", perSecond, 1), redisReq("k", daily, 1)},
			[]Result{ok(perSecond, 9, time.Second), no(daily, 0, 12*time.Hour, 12*time.Hour)}},
		{[]Request{redisReq("k", perSecond, 9)},
			[]Result{ok(perSecond, 0, time.Second)}},
		// And the other way round, with a token bucket.
		{[]Request{redisReq("k", bucket, 2), redisReq("k", perSecond, 1)},
			[]Result{ok(bucket, 2, 0), no(perSecond, 0, time.Second, time.Second)}},
		{[]Request{redisReq("k", bucket, 2)},
			[]Result{ok(bucket, 0, 2*time.Minute)}},
	}
	stores := map[string]Store{
		"redis":  NewRedisStore(srv.Client(), RedisOptions{}),
		"memory": redisMemoryStore(t),
	}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			for i, s := range steps {
				got, err := store.TakeAll(context.Background(), redisT0, s.reqs)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got).To(Equal(s.want), "step %d", i)
			}
		})
	}
}

func TestRedisStoreExpiresBucketsWithTheirState(t *testing.T) {
	g := NewWithT(t)
	srv := testutil.StartRedisServer(t)
	client := srv.Client()
	store := NewRedisStore(client, RedisOptions{Prefix: "test:"})
	ctx := context.Background()

	fixed := Limit{Name: "f", Strategy: FixedWindow, Limit: 5, Period: time.Minute}
	bucket := Limit{Name: "t", Strategy: TokenBucket, Limit: 10, Period: time.Second, Burst: 20}
	fixedKey, bucketKey := store.bucketName(&Request{Key: "f", Limit: fixed}), store.bucketName(&Request{Key: "t", Limit: bucket})
	g.Expect(fixedKey).To(HavePrefix("test:f:"))
	_, err := store.TakeAll(ctx, redisT0.Add(10*time.Second), []Request{redisReq("f", fixed, 1), redisReq("t", bucket, 20)})
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(client.Keys(ctx, "*").Val()).To(ConsistOf(fixedKey, bucketKey))
	// The window ends in 50 s; an empty bucket is full again in 2 s.
	g.Expect(client.PTTL(ctx, fixedKey).Val()).To(BeNumerically("~", 50*time.Second+redisExpirySlack, 500*time.Millisecond))
	g.Expect(client.PTTL(ctx, bucketKey).Val()).To(BeNumerically("~", 2*time.Second+redisExpirySlack, 500*time.Millisecond))

	// A refused call spends nothing.
	_, err = store.TakeAll(ctx, redisT0.Add(30*time.Second), []Request{redisReq("f", fixed, 5), redisReq("t", bucket, 20)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(client.HGet(ctx, fixedKey, "c").Val()).To(Equal("1"))
	g.Expect(client.PTTL(ctx, fixedKey).Val()).To(BeNumerically("~", 30*time.Second+redisExpirySlack, 500*time.Millisecond))

	// A bucket that holds nothing again lasts only the slack, and a call
	// that spends nothing creates no bucket.
	_, err = store.TakeAll(ctx, redisT0.Add(time.Minute), []Request{redisReq("f", fixed, 0), redisReq("t", bucket, 0), redisReq("new", fixed, 0)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(client.Keys(ctx, "*").Val()).To(ConsistOf(fixedKey, bucketKey))
	g.Expect(client.PTTL(ctx, fixedKey).Val()).To(BeNumerically("~", redisExpirySlack, 500*time.Millisecond))
	g.Expect(client.PTTL(ctx, bucketKey).Val()).To(BeNumerically("~", redisExpirySlack, 500*time.Millisecond))
}

func TestRedisStoreLoadsItsScriptAfterAFlush(t *testing.T) {
	g := NewWithT(t)
	srv := testutil.StartRedisServer(t)
	client := srv.Client()
	store := NewRedisStore(client, RedisOptions{})
	ctx := context.Background()
	fixed := Limit{Name: "f", Strategy: FixedWindow, Limit: 5, Period: time.Minute}

	_, err := store.TakeAll(ctx, redisT0, []Request{redisReq("f", fixed, 1)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(client.ScriptFlush(ctx).Err()).To(Succeed())
	res, err := store.TakeAll(ctx, redisT0, []Request{redisReq("f", fixed, 1)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res[0].Remaining).To(Equal(int64(3)))
}

// TestRedisStoreRefusesWhatTheMemoryStoreRefuses: a bad request is the
// caller's problem, not an outage, and never reaches Redis.
func TestRedisStoreRefusesWhatTheMemoryStoreRefuses(t *testing.T) {
	g := NewWithT(t)
	srv := testutil.StartRedisServer(t)
	client := srv.Client()
	store := NewRedisStore(client, RedisOptions{})
	mem := redisMemoryStore(t)
	fixed := Limit{Name: "f", Strategy: FixedWindow, Limit: 3, Period: time.Second}
	for name, c := range map[string]struct {
		now  time.Time
		reqs []Request
	}{
		"invalid limit":          {redisT0, []Request{redisReq("k", Limit{Name: "l", Strategy: FixedWindow}, 1)}},
		"cost over capacity":     {redisT0, []Request{redisReq("k", fixed, 4)}},
		"same bucket over":       {redisT0, []Request{redisReq("k", fixed, 2), redisReq("k", fixed, 2)}},
		"negative cost":          {redisT0, []Request{redisReq("k", fixed, -1)}},
		"empty key":              {redisT0, []Request{redisReq("", fixed, 1)}},
		"before 1970":            {time.Unix(-1, 0), []Request{redisReq("k", fixed, 1)}},
		"second request invalid": {redisT0, []Request{redisReq("k", fixed, 1), redisReq("k", Limit{Name: "l"}, 1)}},
	} {
		_, want := mem.TakeAll(context.Background(), c.now, c.reqs)
		g.Expect(want).To(HaveOccurred(), name)
		_, err := store.TakeAll(context.Background(), c.now, c.reqs)
		g.Expect(err).To(MatchError(want.Error()), name)
		g.Expect(errors.Is(err, ErrStoreUnavailable)).To(BeFalse(), name)
	}
	g.Expect(client.Keys(context.Background(), "*").Val()).To(BeEmpty())
}

func TestRedisStoreErrorsWhenRedisIsDown(t *testing.T) {
	g := NewWithT(t)
	srv := testutil.StartRedisServer(t)
	store := NewRedisStore(srv.Client(), RedisOptions{})
	srv.Stop()
	fixed := Limit{Name: "f", Strategy: FixedWindow, Limit: 3, Period: time.Second}
	_, err := store.TakeAll(context.Background(), redisT0, []Request{redisReq("k", fixed, 1)})
	g.Expect(err).To(MatchError(ErrStoreUnavailable))
}

// TestRedisStoreReplicasShareOneLimit runs two stores, each with a client
// of its own as two verifier replicas have, against one Redis, four
// goroutines each, on a simulated clock, and compares what they allowed
// together with the limit and with what one caller alone is allowed on
// the same schedule.
func TestRedisStoreReplicasShareOneLimit(t *testing.T) {
	srv := testutil.StartRedisServer(t)
	replicas := []*RedisStore{
		NewRedisStore(srv.Client(), RedisOptions{}),
		NewRedisStore(srv.Client(), RedisOptions{}),
	}
	alone := NewRedisStore(srv.Client(), RedisOptions{Prefix: "alone:"})

	const (
		perPeriod   = 1000
		periods     = 5
		steps       = 10 // clock steps per period
		perStep     = 160
		concurrency = 8 // four per replica
	)
	limits := []Limit{
		{Name: "fixed", Strategy: FixedWindow, Limit: perPeriod, Period: time.Second},
		{Name: "sliding", Strategy: SlidingWindow, Limit: perPeriod, Period: time.Second},
		{Name: "bucket", Strategy: TokenBucket, Limit: perPeriod, Period: time.Second},
	}
	for _, l := range limits {
		t.Run(l.Name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			var together, single int64
			perPeriodTogether := make([]int64, periods)
			for step := range periods * steps {
				now := redisT0.Add(time.Duration(step) * time.Second / steps)
				var allowed atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, concurrency)
				for w := range concurrency {
					store := replicas[w%len(replicas)]
					wg.Go(func() {
						for range perStep / concurrency {
							res, err := store.TakeAll(ctx, now, []Request{redisReq("acme/k1", l, 1)})
							if err != nil {
								errs <- err
								return
							}
							if res[0].Allowed {
								allowed.Add(1)
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				g.Expect(<-errs).NotTo(HaveOccurred())
				together += allowed.Load()
				perPeriodTogether[step/steps] += allowed.Load()
				for range perStep {
					res, err := alone.TakeAll(ctx, now, []Request{redisReq("acme/k1", l, 1)})
					g.Expect(err).NotTo(HaveOccurred())
					if res[0].Allowed {
						single++
					}
				}
			}
			t.Logf("%s: %d allowed by two replicas, %d by one caller alone; per period together: %v", l.Name, together, single, perPeriodTogether)
			g.Expect(together).To(BeNumerically("~", single, single/20))
			switch l.Strategy {
			case FixedWindow:
				for _, n := range perPeriodTogether {
					g.Expect(n).To(BeNumerically("~", perPeriod, perPeriod/20))
				}
			case SlidingWindow:
				// No second-long span holds more than the limit: with
				// every step's calls at one instant, each span of ten
				// consecutive steps is one.
				for _, n := range perPeriodTogether {
					g.Expect(n).To(BeNumerically("<=", perPeriod))
				}
			case TokenBucket:
				// A full bucket, then the refill of every later step.
				want := int64(perPeriod + perPeriod*(periods*steps-1)/steps)
				g.Expect(together).To(BeNumerically("~", want, want/20))
			}
		})
	}
}

func TestRedisStoreKeepsPrefixesApart(t *testing.T) {
	g := NewWithT(t)
	srv := testutil.StartRedisServer(t)
	client := srv.Client()
	a := NewRedisStore(client, RedisOptions{})
	b := NewRedisStore(client, RedisOptions{Prefix: "other:"})
	l := Limit{Name: "f", Strategy: FixedWindow, Limit: 1, Period: time.Minute}
	ctx := context.Background()
	for _, s := range []*RedisStore{a, b} {
		for _, key := range []string{"k1", "k2"} {
			res, err := s.TakeAll(ctx, redisT0, []Request{redisReq(key, l, 1)})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res[0].Allowed).To(BeTrue(), s.prefix+key)
		}
	}
	g.Expect(client.Keys(ctx, DefaultRedisPrefix+"*").Val()).To(HaveLen(2))
	g.Expect(client.Keys(ctx, "other:*").Val()).To(HaveLen(2))
}
