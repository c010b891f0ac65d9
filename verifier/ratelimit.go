package verifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"

	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/redisconn"
)

// limiter spends requests from keys' limits and guards hashing with the
// pre-authentication limits.
type limiter struct {
	store ratelimit.Store
	// local holds the counters in this process: all of them with the
	// memory store, what a failing Redis falls back to otherwise.
	local    *ratelimit.MemoryStore
	fallback *ratelimit.FallbackStore // nil with the memory store
	closer   io.Closer
	// redis and redisPrefix are the shared store's connection, which the
	// assertion replay cache uses too; redis is nil with the memory store.
	redis       redis.Cmdable
	redisPrefix string

	preAuth             *ratelimit.MemoryStore // nil when disabled
	perSource, perKeyID ratelimit.Limit

	quotas quotaTracker
}

func newLimiter(c RateLimits, log logr.Logger) (*limiter, error) {
	p, err := c.compile()
	if err != nil {
		return nil, err
	}
	l := &limiter{perSource: p.perSource, perKeyID: p.perKeyID, quotas: newQuotaTracker(maxTrackedQuotas)}
	if l.local, err = ratelimit.NewMemoryStore(ratelimit.MemoryOptions{MaxBuckets: p.MaxBuckets}); err != nil {
		return nil, fmt.Errorf("rateLimits.maxBuckets: %w", err)
	}
	l.store = l.local
	if !p.PreAuth.Disabled {
		if l.preAuth, err = ratelimit.NewMemoryStore(ratelimit.MemoryOptions{MaxBuckets: p.PreAuth.MaxBuckets}); err != nil {
			return nil, fmt.Errorf("rateLimits.preAuth.maxBuckets: %w", err)
		}
	}
	if p.Store == storeRedis {
		// One try per request (redisconn): the fallback store probes
		// again once a second.
		client := redisconn.NewClient(p.conn)
		l.closer, l.redis, l.redisPrefix = client, client, p.Redis.Prefix
		l.fallback = &ratelimit.FallbackStore{
			Primary: ratelimit.NewRedisStore(client, ratelimit.RedisOptions{Prefix: p.Redis.Prefix}),
			Local:   l.local, Policy: p.Redis.Fallback, Log: log.WithName("ratelimit"),
			Quotas: p.Redis.QuotaFallback, Replicas: p.Redis.Replicas, MaxQuotaShares: p.MaxBuckets,
		}
		l.store = l.fallback
	}
	return l, nil
}

func (l *limiter) Close() error {
	if l.closer != nil {
		return l.closer.Close()
	}
	return nil
}

// degraded describes a Redis outage for the readiness detail, or "".
func (l *limiter) degraded() string {
	if l.fallback == nil {
		return ""
	}
	st := l.fallback.Status()
	if !st.Degraded {
		return ""
	}
	return fmt.Sprintf("rate limits: Redis unavailable since %s (%v); deciding by %s, quotas by %s",
		st.Since.UTC().Format(time.RFC3339), st.Err, l.fallback.Policy, l.fallback.Quotas)
}

// RateLimitStatus is the state of the limit closest to refusing, for the
// RateLimit headers and the decision API.
type RateLimitStatus struct {
	// Policy names the limit ("per-second", "quota").
	Policy string `json:"policy"`
	// Limit is the most the limit lets the key spend at once.
	Limit int64 `json:"limit"`
	// Remaining is what the key may still spend now.
	Remaining int64 `json:"remaining"`
	// ResetSeconds is when the limit is whole again.
	ResetSeconds int64 `json:"resetSeconds"`
	// WindowSeconds is the limit's period (a quota's: its day or month).
	WindowSeconds int64 `json:"windowSeconds"`
}

// takeBuffers are the slices of one spend, reused: the request path of a
// limited key allocates nothing for them.
type takeBuffers struct {
	reqs []ratelimit.Request
	res  []ratelimit.Result
}

var takePool = sync.Pool{New: func() any { return &takeBuffers{} }}

// spend charges a permitted request to its key's limits. A request over
// any limit spends nothing and is denied.
func (v *Verifier) spend(ctx context.Context, d Decision, req Request, now time.Time) Decision {
	e := d.entry
	plan := &e.plan
	if len(plan.Limits) == 0 {
		return d
	}
	cost := plan.Cost(req.Action)
	if req.Cost != nil {
		cost = *req.Cost
	}
	buf := takePool.Get().(*takeBuffers)
	defer takePool.Put(buf)
	buf.reqs = buf.reqs[:0]
	for i := range plan.Limits {
		buf.reqs = append(buf.reqs, ratelimit.Request{Key: e.bucketKeys[i], Limit: plan.Limits[i], Cost: cost})
	}
	var err error
	if m, ok := v.limits.store.(*ratelimit.MemoryStore); ok {
		buf.res, err = m.AppendTakeAll(ctx, buf.res[:0], now, buf.reqs)
	} else {
		buf.res, err = v.limits.store.TakeAll(ctx, now, buf.reqs)
	}
	res := buf.res
	switch {
	case errors.Is(err, ratelimit.ErrCostExceedsCapacity):
		return identified(deny(ReasonRateLimited, "this request costs more than the key's limits allow at once"), e)
	case errors.Is(err, ratelimit.ErrStoreUnavailable) && plan.HasQuota():
		return identified(indeterminate(ReasonRateLimitUnavailable, "the key's quota cannot be checked while the shared rate-limit store is unavailable; try again"), e)
	case err != nil:
		return identified(indeterminate(ReasonRateLimitUnavailable, "the rate limits cannot be checked right now; try again"), e)
	}
	if plan.HasQuota() {
		q := res[len(res)-1]
		v.limits.quotas.seen(e.Record.KeyID, q.Limit.Capacity()-q.Remaining, q.Remaining, now.Add(q.Reset), now)
	}
	closest, refused := 0, -1
	for i, r := range res {
		if !r.Allowed && (refused < 0 || r.RetryAfter > res[refused].RetryAfter) {
			refused = i
		}
		if r.Remaining < res[closest].Remaining {
			closest = i
		}
	}
	if refused < 0 {
		d.RateLimit, d.limit = rateLimitStatus(res[closest]), closest
		return d
	}
	r := res[refused]
	out := identified(deny(ReasonRateLimited, fmt.Sprintf("the key's limit %q is used up; try again later", r.Limit.Name)), e)
	if r.Limit.Strategy == ratelimit.Quota {
		out = identified(deny(ReasonQuotaExhausted, "the key's quota for this period is used up"), e)
	}
	retry := now.Add(r.RetryAfter)
	out.RetryAfter, out.RateLimit, out.limit = &retry, rateLimitStatus(r), refused
	return out
}

func rateLimitStatus(r ratelimit.Result) RateLimitStatus {
	window := r.Limit.Period
	if r.Limit.Strategy == ratelimit.Quota {
		// A calendar period's length varies; the time to its end is what
		// a client can plan with.
		window = r.Reset
	}
	return RateLimitStatus{
		Policy: r.Limit.Name, Limit: r.Limit.Capacity(), Remaining: r.Remaining,
		ResetSeconds: ceilSeconds(r.Reset), WindowSeconds: ceilSeconds(window),
	}
}

func ceilSeconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

// preAuthorize spends one verification from the client's and the key ID's
// pre-authentication limits, before PBKDF2 runs.
func (v *Verifier) preAuthorize(ctx context.Context, e *Entry, src string, now time.Time) (Decision, bool) {
	l := v.limits
	if l.preAuth == nil {
		return Decision{}, true
	}
	res, err := l.preAuth.TakeAll(ctx, now, []ratelimit.Request{
		{Key: "s:" + src, Limit: l.perSource, Cost: 1},
		{Key: "k:" + e.Record.KeyID, Limit: l.perKeyID, Cost: 1},
	})
	if err != nil {
		return withKey(indeterminate(ReasonHashingBusy, "too many clients are verifying keys; try again later"), e), false
	}
	for _, r := range res {
		if !r.Allowed {
			d := withKey(deny(ReasonRateLimited, "too many verifications of new keys; try again later"), e)
			retry := now.Add(r.RetryAfter)
			d.RetryAfter = &retry
			return d, false
		}
	}
	return Decision{}, true
}
