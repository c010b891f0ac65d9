package ratelimit

import (
	"context"
	"sync"
	"time"
)

// QuotaFallback is what a FallbackStore does with quotas while its
// primary fails. Limits with a period (windows, token buckets) follow
// Policy instead: they refill within their period, so what a replica
// hands out on its own during an outage is bounded by the outage. A
// quota is a budget of a whole day or month: a replica that enforced it
// from its own memory would hand out the whole budget again.
type QuotaFallback string

const (
	// QuotaDeny refuses every call that spends from a quota while the
	// primary fails, whatever Policy says. So does the empty value.
	QuotaDeny QuotaFallback = "Deny"
	// QuotaLocalShare lets each replica spend, during the outage, at most
	// its share (1/Replicas) of what the primary last told it was left of
	// a quota, within the period the primary described (in a period that
	// begins during the outage, 1/Replicas of the whole budget); a quota
	// it never heard of it refuses. What it spent is charged to the
	// primary once the primary answers again, as far as the quota still
	// has credits. Together the replicas never hand out more than the
	// primary said was left, provided Replicas is at least their number.
	QuotaLocalShare QuotaFallback = "LocalShare"
)

// DefaultMaxQuotaShares bounds the quotas a FallbackStore remembers for
// QuotaLocalShare when MaxQuotaShares is zero.
const DefaultMaxQuotaShares = 100_000

// quotaShare is what one replica knows of one quota bucket.
type quotaShare struct {
	req Request // Key and Limit; Cost unused
	// left is what the primary last said was left, in the period ending
	// at end.
	left int64
	end  time.Time
	// spent is what this replica allowed from its share during the
	// current outage, not yet charged to the primary.
	spent int64
}

// quotaShares is the memory behind QuotaLocalShare: a map that request
// traffic grows, so it has a hard cap.
type quotaShares struct {
	mu       sync.Mutex
	m        map[string]*quotaShare
	settling sync.WaitGroup
}

// quotaID names a quota bucket as the primary tells them apart.
func quotaID(r *Request) string {
	loc := "UTC"
	if r.Limit.Location != nil {
		loc = r.Limit.Location.String()
	}
	return r.Key + "\x00" + r.Limit.Name + "\x00" + string(r.Limit.Refill) + "\x00" + loc
}

func (f *FallbackStore) maxQuotaShares() int {
	if f.MaxQuotaShares > 0 {
		return f.MaxQuotaShares
	}
	return DefaultMaxQuotaShares
}

// heard remembers what the primary said of each quota of a call.
func (f *FallbackStore) heard(now time.Time, reqs []Request, res []Result) {
	if f.Quotas != QuotaLocalShare || len(res) != len(reqs) {
		return
	}
	q := &f.shares
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range reqs {
		r := &reqs[i]
		if r.Limit.Strategy != Quota {
			continue
		}
		id := quotaID(r)
		s, ok := q.m[id]
		if !ok {
			if q.m == nil {
				q.m = map[string]*quotaShare{}
			}
			if len(q.m) >= f.maxQuotaShares() {
				// Forgetting a quota costs only availability: during an
				// outage it is refused.
				for k := range q.m {
					delete(q.m, k)
					break
				}
			}
			s = &quotaShare{req: Request{Key: r.Key, Limit: r.Limit}}
			q.m[id] = s
		}
		s.left, s.end = res[i].Remaining, now.Add(res[i].Reset)
	}
}

// shareQuotas decides a call with quotas during an outage: quotas from
// this replica's share, the other limits from Local (Policy is
// FailOpenLocal, or the call has no other limits). All or nothing, as
// every Store.
func (f *FallbackStore) shareQuotas(ctx context.Context, now time.Time, reqs []Request) ([]Result, error) {
	replicas := int64(max(f.Replicas, 1))
	res := make([]Result, len(reqs))
	var others []Request
	var otherAt []int
	q := &f.shares
	q.mu.Lock()
	defer q.mu.Unlock()
	want := map[*quotaShare]int64{}
	quotasOK := true
	for i := range reqs {
		r := &reqs[i]
		if r.Limit.Strategy != Quota {
			others, otherAt = append(others, *r), append(otherAt, i)
			continue
		}
		if err := r.Limit.Validate(); err != nil {
			return nil, err
		}
		if err := r.validate(); err != nil {
			return nil, err
		}
		s := q.m[quotaID(r)]
		if s != nil && !now.Before(s.end) {
			// A period the primary never described began during the
			// outage: it starts full everywhere, so a share of the whole
			// budget is safe; what was spent belonged to the last one.
			end := QuotaPeriodEnd(r.Limit.Refill, r.Limit.Location, now)
			s.left, s.end, s.spent = r.Limit.Capacity(), end, 0
		}
		avail, end := int64(0), QuotaPeriodEnd(r.Limit.Refill, r.Limit.Location, now)
		if s != nil {
			avail, end = max(s.left/replicas-s.spent-want[s], 0), s.end
		}
		res[i] = Result{Limit: r.Limit, Allowed: r.Cost <= avail, Remaining: avail, Reset: end.Sub(now)}
		if !res[i].Allowed {
			quotasOK = false
			res[i].RetryAfter = f.probeInterval()
			if s != nil && s.left == 0 {
				res[i].RetryAfter = end.Sub(now)
			}
			continue
		}
		if s != nil {
			want[s] += r.Cost
		}
	}
	if len(others) > 0 {
		if !quotasOK {
			// Read the other limits without spending from them.
			for i := range others {
				others[i].Cost = 0
			}
		}
		otherRes, err := f.Local.TakeAll(ctx, now, others)
		if err != nil {
			return nil, err
		}
		for j, i := range otherAt {
			res[i] = otherRes[j]
			if !otherRes[j].Allowed {
				quotasOK = false
			}
		}
	}
	if !quotasOK {
		return res, nil
	}
	for s, cost := range want {
		s.spent += cost
	}
	for i := range reqs {
		if reqs[i].Limit.Strategy == Quota {
			res[i].Remaining -= reqs[i].Cost
		}
	}
	return res, nil
}

func (f *FallbackStore) probeInterval() time.Duration {
	if f.ProbeInterval > 0 {
		return f.ProbeInterval
	}
	return DefaultProbeInterval
}

// settle charges to the primary what this replica spent from its shares
// during the outage that just ended, in the background: one call per
// quota, which must not hold up the request that found the primary back.
// A quota whose period ended meanwhile has nothing to charge; one with
// fewer credits left than were spent is charged what it has.
func (f *FallbackStore) settle(now time.Time) {
	q := &f.shares
	q.mu.Lock()
	var owed []Request
	for _, s := range q.m {
		if s.spent > 0 && now.Before(s.end) {
			r := s.req
			r.Cost = min(s.spent, r.Limit.Capacity())
			owed = append(owed, r)
		}
		s.spent = 0
	}
	q.mu.Unlock()
	if len(owed) == 0 {
		return
	}
	q.settling.Add(1)
	go func() {
		defer q.settling.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		failed := 0
		for _, r := range owed {
			res, err := f.Primary.TakeAll(ctx, now, []Request{r})
			if err == nil && !res[0].Allowed && res[0].Remaining > 0 {
				r.Cost = res[0].Remaining
				_, err = f.Primary.TakeAll(ctx, now, []Request{r})
			}
			if err != nil {
				failed++
			}
		}
		if failed > 0 {
			f.Log.Info("could not charge quota spent during the outage to the rate-limit store", "quotas", failed, "of", len(owed))
		}
	}()
}
