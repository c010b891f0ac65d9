package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// FallbackPolicy is what a FallbackStore does while its primary store fails.
type FallbackPolicy string

const (
	// FailOpenLocal enforces the limits in the local store: each replica
	// then allows the whole limit on its own, so together they allow up
	// to the limit times the number of replicas. Quotas are not limits
	// with a period: FallbackStore.Quotas decides them.
	FailOpenLocal FallbackPolicy = "FailOpenLocal"
	// Deny refuses every request that has a limit. So does any policy
	// other than FailOpenLocal, the empty one included: the verifier fails
	// closed.
	Deny FallbackPolicy = "Deny"
)

// ErrStoreUnavailable is wrapped by the errors of a store that could not
// reach where it keeps its buckets (a RedisStore's, when Redis fails), and
// so by a FallbackStore's under Deny: the caller can tell an outage from a
// request over its limit or a bad request.
var ErrStoreUnavailable = errors.New("rate-limit store unavailable")

// DefaultProbeInterval is how often a degraded FallbackStore lets one
// call try the primary again.
const DefaultProbeInterval = time.Second

// FallbackStore sends calls to Primary (Redis) and, while that fails with
// errors that wrap ErrStoreUnavailable, decides them by Policy with Local
// (in memory), except calls that spend from a quota, which Quotas decides
// (QuotaDeny unless set). Other errors concern the request and are
// returned as they are. While degraded it lets one call at a time try the primary, at most
// once per ProbeInterval of the callers' clock, so that an outage costs a
// failed round-trip once a second rather than on every call. It logs once
// when it falls back and once when the primary answers again.
//
// The exported fields are its configuration; set them before first use and
// do not copy a FallbackStore after that.
type FallbackStore struct {
	Primary Store
	Local   Store
	Policy  FallbackPolicy
	Log     logr.Logger
	// ProbeInterval is zero for DefaultProbeInterval.
	ProbeInterval time.Duration
	// Quotas is what happens to calls with a quota during an outage;
	// empty means QuotaDeny.
	Quotas QuotaFallback
	// Replicas is how many stores share the primary, for
	// QuotaLocalShare: each spends at most 1/Replicas of what the primary
	// last said was left. Less than 1 counts as 1.
	Replicas int
	// MaxQuotaShares caps the quotas remembered for QuotaLocalShare; zero
	// means DefaultMaxQuotaShares.
	MaxQuotaShares int

	shares quotaShares

	degraded  atomic.Bool
	fallbacks atomic.Uint64

	mu        sync.Mutex
	probing   bool
	since     time.Time
	lastProbe time.Time
	lastErr   error
}

// FallbackStatus is a FallbackStore's state for readiness detail and
// metrics.
type FallbackStatus struct {
	// Degraded: the primary failed and has not answered since.
	Degraded bool
	// Since is when the current outage began (the caller's clock).
	Since time.Time
	// Err is the primary's last error during the current outage.
	Err error
	// Fallbacks counts the calls decided by Policy rather than by the
	// primary, over the store's life.
	Fallbacks uint64
}

// Degraded reports whether requests are decided by the fallback policy.
func (f *FallbackStore) Degraded() bool { return f.degraded.Load() }

// Fallbacks counts the calls decided by the fallback policy.
func (f *FallbackStore) Fallbacks() uint64 { return f.fallbacks.Load() }

// Status reports the store's state.
func (f *FallbackStore) Status() FallbackStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := FallbackStatus{Degraded: f.degraded.Load(), Fallbacks: f.fallbacks.Load()}
	if st.Degraded {
		st.Since, st.Err = f.since, f.lastErr
	}
	return st
}

// TakeAll implements Store.
func (f *FallbackStore) TakeAll(ctx context.Context, now time.Time, reqs []Request) ([]Result, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if !f.degraded.Load() {
		res, err := f.Primary.TakeAll(ctx, now, reqs)
		if !errors.Is(err, ErrStoreUnavailable) || ctx.Err() != nil {
			if err == nil {
				f.heard(now, reqs, res)
			}
			return res, err
		}
		f.fail(now, err)
		return f.fallback(ctx, now, reqs, err)
	}
	if !f.claimProbe(now) {
		return f.fallback(ctx, now, reqs, f.Status().Err)
	}
	defer f.endProbe()
	res, err := f.Primary.TakeAll(ctx, now, reqs)
	if !errors.Is(err, ErrStoreUnavailable) || ctx.Err() != nil {
		// The primary answered, even if only to refuse the request.
		if err == nil || ctx.Err() == nil {
			f.recover(now)
		}
		if err == nil {
			f.heard(now, reqs, res)
		}
		return res, err
	}
	f.fail(now, err)
	return f.fallback(ctx, now, reqs, err)
}

// claimProbe lets one call at a time through to the primary, once the
// probe interval has passed since the last attempt.
func (f *FallbackStore) claimProbe(now time.Time) bool {
	interval := f.ProbeInterval
	if interval <= 0 {
		interval = DefaultProbeInterval
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.probing || now.Sub(f.lastProbe) < interval {
		return false
	}
	f.probing = true
	f.lastProbe = now
	return true
}

func (f *FallbackStore) endProbe() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probing = false
}

func (f *FallbackStore) fail(now time.Time, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Callers' clocks are read on different goroutines: a late failure
	// with an earlier now must not bring the next probe forward.
	if now.After(f.lastProbe) {
		f.lastProbe = now
	}
	f.lastErr = err
	if f.degraded.Load() {
		return
	}
	f.since = now
	f.degraded.Store(true)
	f.Log.Error(err, "rate-limit store unavailable, deciding by the fallback policy", "policy", f.Policy)
}

func (f *FallbackStore) recover(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.degraded.Load() {
		return
	}
	f.degraded.Store(false)
	f.Log.Info("rate-limit store answers again", "outage", now.Sub(f.since).String())
	f.lastErr = nil
	f.settle(now)
}

func (f *FallbackStore) fallback(ctx context.Context, now time.Time, reqs []Request, cause error) ([]Result, error) {
	f.fallbacks.Add(1)
	if cause == nil {
		cause = ErrStoreUnavailable
	}
	quotas, others := 0, 0
	for i := range reqs {
		if reqs[i].Limit.Strategy == Quota {
			quotas++
		} else {
			others++
		}
	}
	switch {
	case others > 0 && f.Policy != FailOpenLocal:
		return nil, cause
	case quotas == 0:
		return f.Local.TakeAll(ctx, now, reqs)
	case f.Quotas == QuotaLocalShare:
		return f.shareQuotas(ctx, now, reqs)
	}
	return nil, cause
}
