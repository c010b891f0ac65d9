package policy

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
)

// Ceiling is the loosest rate limit a KeyPolicy allows: Limit per Period,
// with at most MaxBurst at once (Limit when 0).
type Ceiling struct {
	Limit    int64
	Period   time.Duration
	MaxBurst int64
}

func (c Ceiling) burst() int64 {
	if c.MaxBurst > 0 {
		return c.MaxBurst
	}
	return c.Limit
}

func (c Ceiling) String() string {
	return fmt.Sprintf("%d per %s (at most %d at once)", c.Limit, c.Period, c.burst())
}

// within reports whether l is at least as strict as c: a sustained rate no
// higher (compared exactly, as l.Limit/l.Period ≤ c.Limit/c.Period) and no
// more at once.
func (c Ceiling) within(l ratelimit.Limit) bool {
	hiL, loL := bits.Mul64(uint64(l.Limit), uint64(c.Period))
	hiC, loC := bits.Mul64(uint64(c.Limit), uint64(l.Period))
	rateOK := hiL < hiC || (hiL == hiC && loL <= loC)
	return rateOK && l.Capacity() <= c.burst()
}

// plan compiles a key's limits; a key whose limits do not compile is
// refused for that elsewhere, and holds no limit here.
func plan(rl record.RateLimit) record.Plan {
	p, err := rl.Compile()
	if err != nil {
		return record.Plan{}
	}
	return p
}

func (r Rules) checkCeiling(k Key) []Violation {
	if r.RateLimitCeiling == nil {
		return nil
	}
	for _, l := range plan(k.RateLimit).Limits {
		if l.Strategy != ratelimit.Quota && r.RateLimitCeiling.within(l) {
			return nil
		}
	}
	return []Violation{{Field: "spec.rateLimit.limits", Message: fmt.Sprintf("KeyPolicy %q requires a rate limit of at most %s; this key has none that strict", r.Name, r.RateLimitCeiling)}}
}

// delegatedLimits requires the child to be limited at least as strictly as
// each of the parent's limits, and by a quota no larger than the parent's.
func delegatedLimits(child Key, parent Parent) []Violation {
	var vs []Violation
	pp, cp := plan(parent.RateLimit), plan(child.RateLimit)
	for _, pl := range pp.Limits {
		if pl.Strategy == ratelimit.Quota {
			continue
		}
		c := Ceiling{Limit: pl.Limit, Period: pl.Period, MaxBurst: pl.Capacity()}
		ok := false
		for _, cl := range cp.Limits {
			ok = ok || (cl.Strategy != ratelimit.Quota && c.within(cl))
		}
		if !ok {
			vs = append(vs, Violation{Field: "spec.rateLimit.limits", Message: fmt.Sprintf("parent key %q is limited to %s (limit %q); a delegated key needs a limit at least as strict", parent.Name, c, pl.Name)})
		}
	}
	if pq := parent.RateLimit.Quota; pq != nil {
		cq := child.RateLimit.Quota
		if cq == nil || cq.Refill != pq.Refill || cq.TimeZone != pq.TimeZone || cq.Credits > pq.Credits {
			vs = append(vs, Violation{Field: "spec.rateLimit.quota", Message: fmt.Sprintf("parent key %q has a %s quota of %d credits; a delegated key needs a quota with the same refill and time zone and no more credits", parent.Name, pq.Refill, pq.Credits)})
		}
	}
	return vs
}
