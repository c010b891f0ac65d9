package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// redisTestLog records what a FallbackStore logs.
type redisTestLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *redisTestLog) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, args)
	}, funcr.Options{})
}

func (l *redisTestLog) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// redisTestPrimary answers with err while it is set, and counts its calls.
// Its outage errors wrap ErrStoreUnavailable, as a RedisStore's do.
type redisTestPrimary struct {
	calls atomic.Int64
	err   atomic.Pointer[error]
}

func (p *redisTestPrimary) TakeAll(_ context.Context, _ time.Time, reqs []Request) ([]Result, error) {
	p.calls.Add(1)
	if err := p.err.Load(); err != nil {
		return nil, *err
	}
	res := make([]Result, len(reqs))
	for i, r := range reqs {
		res[i] = Result{Limit: r.Limit, Allowed: true, Remaining: 1000}
	}
	return res, nil
}

func (p *redisTestPrimary) fail(err error) { p.err.Store(&err) }

func redisOutageErr(msg string) error { return fmt.Errorf("%w: %s", ErrStoreUnavailable, msg) }
func (p *redisTestPrimary) heal()     { p.err.Store(nil) }

// redisOutage takes requests from many goroutines at once, as a verifier
// does when Redis goes away under load.
func redisOutage(t *testing.T, s Store, now time.Time, reqs []Request, n int) ([][]Result, []error) {
	t.Helper()
	results := make([][]Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = s.TakeAll(context.Background(), now, reqs) })
	}
	wg.Wait()
	return results, errs
}

func TestFallbackStoreFailsOpenToLocalLimitsWhileRedisIsDown(t *testing.T) {
	g := NewWithT(t)
	srv := testutil.StartRedisServer(t)
	var log redisTestLog
	f := &FallbackStore{
		Primary: NewRedisStore(srv.Client(), RedisOptions{}),
		Local:   redisMemoryStore(t),
		Policy:  FailOpenLocal,
		Log:     log.logger(),
	}
	l := Limit{Name: "per-hour", Strategy: FixedWindow, Limit: 5, Period: time.Hour}
	reqs := []Request{redisReq("k", l, 1)}
	now := redisT0
	ctx := context.Background()

	res, err := f.TakeAll(ctx, now, append(reqs[:0:0], redisReq("k", l, 4)))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res[0].Remaining).To(Equal(int64(1)))
	g.Expect(f.Degraded()).To(BeFalse())

	srv.Stop()
	results, errs := redisOutage(t, f, now, reqs, 8)
	allowed := 0
	for i := range results {
		g.Expect(errs[i]).NotTo(HaveOccurred())
		if results[i][0].Allowed {
			allowed++
		}
	}
	// The local store knows nothing of the 4 Redis counted: it allows its
	// own 5 of the 8.
	g.Expect(allowed).To(Equal(5))
	g.Expect(f.Degraded()).To(BeTrue())
	g.Expect(f.Fallbacks()).To(Equal(uint64(8)))
	g.Expect(log.count("rate-limit store unavailable")).To(Equal(1))
	st := f.Status()
	g.Expect(st.Degraded).To(BeTrue())
	g.Expect(st.Since).To(Equal(now))
	g.Expect(st.Err).To(HaveOccurred())

	res, err = f.TakeAll(ctx, now.Add(time.Minute), reqs)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res[0].Allowed).To(BeFalse())
	g.Expect(log.count("rate-limit store unavailable")).To(Equal(1))

	srv.Start()
	g.Eventually(func() bool {
		now = now.Add(time.Second)
		res, err = f.TakeAll(ctx, now, reqs)
		return err == nil && !f.Degraded()
	}).WithTimeout(10 * time.Second).WithPolling(10 * time.Millisecond).Should(BeTrue())
	// Redis restarted empty: the primary decides again, with its own count.
	g.Expect(res[0].Allowed).To(BeTrue())
	g.Expect(res[0].Remaining).To(Equal(int64(4)))
	g.Expect(f.Status()).To(Equal(FallbackStatus{Fallbacks: f.Fallbacks()}))
	g.Expect(log.count("rate-limit store unavailable")).To(Equal(1))
	g.Expect(log.count("rate-limit store answers again")).To(Equal(1))
}

func TestFallbackStoreDeniesWhileRedisIsDown(t *testing.T) {
	g := NewWithT(t)
	srv := testutil.StartRedisServer(t)
	var log redisTestLog
	local := redisMemoryStore(t)
	f := &FallbackStore{
		Primary: NewRedisStore(srv.Client(), RedisOptions{}),
		Local:   local,
		Policy:  Deny,
		Log:     log.logger(),
	}
	l := Limit{Name: "per-hour", Strategy: FixedWindow, Limit: 5, Period: time.Hour}
	reqs := []Request{redisReq("k", l, 1)}
	now := redisT0
	ctx := context.Background()

	_, err := f.TakeAll(ctx, now, reqs)
	g.Expect(err).NotTo(HaveOccurred())

	srv.Stop()
	results, errs := redisOutage(t, f, now, reqs, 8)
	for i := range results {
		g.Expect(results[i]).To(BeNil())
		g.Expect(errors.Is(errs[i], ErrStoreUnavailable)).To(BeTrue(), "%v", errs[i])
	}
	g.Expect(local.Buckets()).To(BeZero())
	g.Expect(f.Degraded()).To(BeTrue())
	g.Expect(f.Fallbacks()).To(Equal(uint64(8)))
	g.Expect(log.count("rate-limit store unavailable")).To(Equal(1))

	srv.Start()
	g.Eventually(func() error {
		now = now.Add(time.Second)
		_, err := f.TakeAll(ctx, now, reqs)
		return err
	}).WithTimeout(10 * time.Second).WithPolling(10 * time.Millisecond).Should(Succeed())
	g.Expect(f.Degraded()).To(BeFalse())
	g.Expect(log.count("rate-limit store unavailable")).To(Equal(1))
	g.Expect(log.count("rate-limit store answers again")).To(Equal(1))
}

func TestFallbackStoreProbesThePrimaryAtMostOncePerInterval(t *testing.T) {
	g := NewWithT(t)
	primary := &redisTestPrimary{}
	primary.fail(redisOutageErr("connection refused"))
	f := &FallbackStore{Primary: primary, Local: redisMemoryStore(t), Policy: FailOpenLocal}
	l := Limit{Name: "l", Strategy: FixedWindow, Limit: 1 << 40, Period: time.Hour}
	reqs := []Request{redisReq("k", l, 1)}
	now := redisT0

	_, errs := redisOutage(t, f, now, reqs, 1)
	g.Expect(errs[0]).NotTo(HaveOccurred())
	g.Expect(primary.calls.Load()).To(Equal(int64(1)))

	// Within the interval every request stays local.
	redisOutage(t, f, now.Add(999*time.Millisecond), reqs, 50)
	g.Expect(primary.calls.Load()).To(Equal(int64(1)))

	// Once it has passed, one request of many tries the primary.
	redisOutage(t, f, now.Add(time.Second), reqs, 50)
	g.Expect(primary.calls.Load()).To(Equal(int64(2)))
	redisOutage(t, f, now.Add(1500*time.Millisecond), reqs, 50)
	g.Expect(primary.calls.Load()).To(Equal(int64(2)))
	g.Expect(f.Fallbacks()).To(Equal(uint64(151)))

	primary.heal()
	res, errs := redisOutage(t, f, now.Add(2*time.Second), reqs, 1)
	g.Expect(errs[0]).NotTo(HaveOccurred())
	g.Expect(res[0][0].Remaining).To(Equal(int64(1000)), "decided by the primary")
	g.Expect(f.Degraded()).To(BeFalse())
	redisOutage(t, f, now.Add(2*time.Second), reqs, 50)
	g.Expect(primary.calls.Load()).To(Equal(int64(53)))
	g.Expect(f.Fallbacks()).To(Equal(uint64(151)))
}

func TestFallbackStoreIgnoresACallerThatGaveUp(t *testing.T) {
	g := NewWithT(t)
	primary := &redisTestPrimary{}
	primary.fail(context.Canceled)
	f := &FallbackStore{Primary: primary, Local: redisMemoryStore(t), Policy: Deny}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.TakeAll(ctx, redisT0, []Request{redisReq("k", Limit{Name: "l", Strategy: FixedWindow, Limit: 1, Period: time.Second}, 1)})
	g.Expect(err).To(MatchError(context.Canceled))
	g.Expect(f.Degraded()).To(BeFalse())
	g.Expect(f.Fallbacks()).To(BeZero())
}

func TestFallbackStoreWithoutAPolicyDenies(t *testing.T) {
	g := NewWithT(t)
	primary := &redisTestPrimary{}
	primary.fail(redisOutageErr("connection refused"))
	f := &FallbackStore{Primary: primary, Local: redisMemoryStore(t)}
	_, err := f.TakeAll(context.Background(), redisT0, []Request{redisReq("k", Limit{Name: "l", Strategy: FixedWindow, Limit: 1, Period: time.Second}, 1)})
	g.Expect(err).To(MatchError(ErrStoreUnavailable))
	g.Expect(err).To(MatchError(ContainSubstring("connection refused")))
}

// TestFallbackStorePassesOnBadRequests: a request Redis never saw says
// nothing about Redis.
func TestFallbackStorePassesOnBadRequests(t *testing.T) {
	g := NewWithT(t)
	srv := testutil.StartRedisServer(t)
	f := &FallbackStore{Primary: NewRedisStore(srv.Client(), RedisOptions{}), Local: redisMemoryStore(t), Policy: FailOpenLocal}
	l := Limit{Name: "l", Strategy: FixedWindow, Limit: 1, Period: time.Second}
	_, err := f.TakeAll(context.Background(), redisT0, []Request{redisReq("k", l, 2)})
	g.Expect(err).To(MatchError(ErrCostExceedsCapacity))
	g.Expect(f.Degraded()).To(BeFalse())
	g.Expect(f.Fallbacks()).To(BeZero())
}

// quotaReplicas are two FallbackStores over one Redis, each with a client
// and a local store of its own, as two verifier replicas are.
func quotaReplicas(t *testing.T, srv *testutil.RedisServer, quotas QuotaFallback) []*FallbackStore {
	t.Helper()
	var out []*FallbackStore
	for range 2 {
		out = append(out, &FallbackStore{
			Primary: NewRedisStore(srv.Client(), RedisOptions{}), Local: redisMemoryStore(t),
			Policy: FailOpenLocal, Quotas: quotas, Replicas: 2,
		})
	}
	return out
}

// spendAll offers n requests to each store in turn and counts the
// admitted ones; errors count as refusals.
func spendAll(ctx context.Context, stores []*FallbackStore, now time.Time, reqs []Request, n int) (admitted int, errs []error) {
	for i := range n {
		res, err := stores[i%len(stores)].TakeAll(ctx, now, reqs)
		switch {
		case err != nil:
			errs = append(errs, err)
		case res[len(res)-1].Allowed:
			admitted++
		}
	}
	return admitted, errs
}

// TestAQuotaIsNotHandedOutAgainWhileRedisIsDown: with the fallback a
// configuration gets without saying, Redis killed mid-test, a quota whose
// credits Redis counted is not spent again from the replicas' memory,
// while a limit with a period still falls open to local counting.
func TestAQuotaIsNotHandedOutAgainWhileRedisIsDown(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	srv := testutil.StartRedisServer(t)
	replicas := quotaReplicas(t, srv, "")
	quota := Limit{Name: "quota", Strategy: Quota, Limit: 10, Refill: Daily}
	perMinute := Limit{Name: "per-minute", Strategy: FixedWindow, Limit: 100, Period: time.Minute}
	withQuota := []Request{redisReq("k", perMinute, 1), redisReq("k", quota, 1)}
	now := redisT0

	admitted, errs := spendAll(ctx, replicas, now, withQuota, 9)
	g.Expect(errs).To(BeEmpty())
	g.Expect(admitted).To(Equal(9), "Redis counts 9 of 10")

	srv.Stop()
	admitted, errs = spendAll(ctx, replicas, now, withQuota, 40)
	g.Expect(admitted).To(BeZero(), "Redis said 1 credit was left; the replicas' memories know nothing of the 9 spent")
	g.Expect(errs).To(HaveLen(40))
	for _, err := range errs {
		g.Expect(err).To(MatchError(ErrStoreUnavailable))
	}
	res, err := replicas[0].TakeAll(ctx, now, []Request{redisReq("k", perMinute, 1)})
	g.Expect(err).NotTo(HaveOccurred(), "a limit with a period falls open to the local store, as configured")
	g.Expect(res[0].Allowed).To(BeTrue())
}

// TestQuotaSharesWhileRedisIsDown: with QuotaLocalShare each of two
// replicas spends at most half of what Redis last told it was left, and
// what they spent is charged to Redis when it answers again.
func TestQuotaSharesWhileRedisIsDown(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	srv := testutil.StartRedisServer(t)
	replicas := quotaReplicas(t, srv, QuotaLocalShare)
	quota := Limit{Name: "quota", Strategy: Quota, Limit: 100, Refill: Daily}
	reqs := []Request{redisReq("k", quota, 1)}
	now := redisT0

	// Both replicas hear from Redis last when 41 credits are left.
	admitted, errs := spendAll(ctx, replicas, now, []Request{redisReq("k", quota, 29)}, 2)
	g.Expect(errs).To(BeEmpty())
	g.Expect(admitted).To(Equal(2))
	admitted, errs = spendAll(ctx, replicas, now, []Request{redisReq("k", quota, 1)}, 2)
	g.Expect(errs).To(BeEmpty())
	g.Expect(admitted).To(Equal(2), "Redis: 100 - 58 - 2 = 40 left; the replicas last heard 41 and 40")

	srv.Stop()
	admitted, errs = spendAll(ctx, replicas, now.Add(time.Minute), reqs, 100)
	g.Expect(errs).To(BeEmpty())
	g.Expect(admitted).To(Equal(41/2+40/2), "each replica spends half of what it last heard")
	res, err := replicas[0].TakeAll(ctx, now.Add(time.Minute), reqs)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res[0].Allowed).To(BeFalse())
	g.Expect(res[0].RetryAfter).To(Equal(DefaultProbeInterval), "the share may grow back when Redis answers")
	unknown, err := replicas[0].TakeAll(ctx, now, []Request{redisReq("other", quota, 1)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(unknown[0].Allowed).To(BeFalse(), "a quota Redis never described to this replica has no share")

	// A new day begins during the outage: half of the whole budget each.
	tomorrow := time.Date(2030, time.January, 16, 0, 0, 1, 0, time.UTC)
	admitted, errs = spendAll(ctx, replicas, tomorrow, reqs, 200)
	g.Expect(errs).To(BeEmpty())
	g.Expect(admitted).To(Equal(100))

	// Redis comes back, empty (no persistence): both replicas charge it
	// what they spent today.
	srv.Start()
	g.Eventually(func() bool {
		tomorrow = tomorrow.Add(2 * time.Second)
		_, err := replicas[0].TakeAll(ctx, tomorrow, []Request{redisReq("k", quota, 0)})
		_, err2 := replicas[1].TakeAll(ctx, tomorrow, []Request{redisReq("k", quota, 0)})
		return err == nil && err2 == nil && !replicas[0].Degraded() && !replicas[1].Degraded()
	}).WithTimeout(10 * time.Second).WithPolling(10 * time.Millisecond).Should(BeTrue())
	for _, r := range replicas {
		r.shares.settling.Wait()
	}
	res, err = replicas[0].TakeAll(ctx, tomorrow, []Request{redisReq("k", quota, 0)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res[0].Remaining).To(BeZero(), "the 100 spent during the outage were charged to Redis")
}

// TestQuotaSharesAreBounded: the quotas a replica remembers for its share
// are capped; a forgotten one is refused during an outage.
func TestQuotaSharesAreBounded(t *testing.T) {
	g := NewWithT(t)
	primary := &redisTestPrimary{}
	f := &FallbackStore{Primary: primary, Local: redisMemoryStore(t), Policy: FailOpenLocal, Quotas: QuotaLocalShare, Replicas: 1, MaxQuotaShares: 3}
	quota := Limit{Name: "quota", Strategy: Quota, Limit: 1000, Refill: Monthly}
	for i := range 10 {
		_, err := f.TakeAll(context.Background(), redisT0, []Request{redisReq(fmt.Sprint("k", i), quota, 1)})
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(f.shares.m).To(HaveLen(3))
	primary.fail(redisOutageErr("connection refused"))
	admitted := 0
	for i := range 10 {
		res, err := f.TakeAll(context.Background(), redisT0, []Request{redisReq(fmt.Sprint("k", i), quota, 1)})
		g.Expect(err).NotTo(HaveOccurred())
		if res[0].Allowed {
			admitted++
		}
	}
	g.Expect(admitted).To(Equal(3))
}
