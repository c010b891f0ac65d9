package v1alpha1

import (
	"time"

	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
)

// RecordRateLimit is spec.rateLimit as the key record carries it.
func (k *APIKey) RecordRateLimit() record.RateLimit {
	var out record.RateLimit
	rl := k.Spec.RateLimit
	if rl == nil {
		return out
	}
	for _, l := range rl.Limits {
		rec := record.Limit{Name: l.Name, Strategy: ratelimit.Strategy(l.Strategy), Limit: l.Limit, PeriodSeconds: l.PeriodSeconds, SharedByOwner: l.SharedBy == SharedByOwner}
		if l.Burst != nil {
			rec.Burst = *l.Burst
		}
		out.Limits = append(out.Limits, rec)
	}
	if q := rl.Quota; q != nil {
		out.Quota = &record.Quota{Credits: q.Credits, Refill: ratelimit.Refill(q.Refill), TimeZone: q.TimeZone, SharedByOwner: q.SharedBy == SharedByOwner}
	}
	if c := rl.Costs; c != nil {
		out.Costs = map[string]int64{}
		for name, v := range map[string]*int64{"read": c.Read, "write": c.Write, "delete": c.Delete, "execute": c.Execute, "admin": c.Admin} {
			if v != nil {
				out.Costs[name] = *v
			}
		}
	}
	return out
}

func (c *RateLimitCeiling) rules() *policy.Ceiling {
	if c == nil {
		return nil
	}
	out := &policy.Ceiling{Limit: c.Limit, Period: time.Duration(c.PeriodSeconds) * time.Second}
	if c.MaxBurst != nil {
		out.MaxBurst = *c.MaxBurst
	}
	return out
}
