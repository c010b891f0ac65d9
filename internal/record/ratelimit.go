package record

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/scope"
)

// RateLimit is a key's limits as the verifier enforces them: the APIKey's
// spec.rateLimit, in plain data.
type RateLimit struct {
	Limits []Limit `json:"limits,omitempty"`
	Quota  *Quota  `json:"quota,omitempty"`
	// Costs by action name ("read", "write", …); a missing action costs 1.
	Costs map[string]int64 `json:"costs,omitempty"`
}

// Limit is one rate limit of a key.
type Limit struct {
	Name          string             `json:"name"`
	Strategy      ratelimit.Strategy `json:"strategy"`
	Limit         int64              `json:"limit"`
	PeriodSeconds int64              `json:"periodSeconds"`
	Burst         int64              `json:"burst,omitempty"`
	// SharedByOwner: every key of the owner spends from one bucket.
	SharedByOwner bool `json:"sharedByOwner,omitempty"`
}

// Quota is a key's budget per calendar period.
type Quota struct {
	Credits       int64            `json:"credits"`
	Refill        ratelimit.Refill `json:"refill"`
	TimeZone      string           `json:"timeZone,omitempty"`
	SharedByOwner bool             `json:"sharedByOwner,omitempty"`
}

// QuotaName is the name of a quota among a key's limits.
const QuotaName = "quota"

// IsZero reports whether the key has no limits at all.
func (r RateLimit) IsZero() bool { return len(r.Limits) == 0 && r.Quota == nil && len(r.Costs) == 0 }

// Plan is a RateLimit ready for the ratelimit package: the limits (the
// quota last, as a Quota strategy), whether each is shared by the owner,
// and the cost of each action.
type Plan struct {
	Limits        []ratelimit.Limit
	SharedByOwner []bool
	costs         [scope.Admin + 1]int64
}

// Cost is what a request of action a spends.
func (p *Plan) Cost(a scope.Action) int64 {
	if int(a) < len(p.costs) {
		return p.costs[a]
	}
	return 1
}

// HasQuota reports whether the last limit is the quota.
func (p *Plan) HasQuota() bool {
	n := len(p.Limits)
	return n > 0 && p.Limits[n-1].Strategy == ratelimit.Quota
}

// Compile checks a RateLimit completely and turns it into a Plan. Errors
// name the field at fault ("limits[1].burst: …").
func (r RateLimit) Compile() (Plan, error) {
	var p Plan
	var errs []error
	for i := range p.costs {
		p.costs[i] = 1
	}
	seen := map[string]bool{}
	for i, l := range r.Limits {
		lim := ratelimit.Limit{Name: l.Name, Strategy: l.Strategy, Limit: l.Limit, Period: time.Duration(l.PeriodSeconds) * time.Second, Burst: l.Burst}
		if l.Strategy == ratelimit.Quota {
			errs = append(errs, fmt.Errorf("limits[%d].strategy: a quota belongs in quota, not limits", i))
			continue
		}
		if l.Name == "" || l.Name == QuotaName || seen[l.Name] {
			errs = append(errs, fmt.Errorf("limits[%d].name: %q is empty, reserved or used twice", i, l.Name))
		}
		seen[l.Name] = true
		if l.PeriodSeconds > int64(ratelimit.MaxPeriod/time.Second) {
			errs = append(errs, fmt.Errorf("limits[%d].periodSeconds: must be at most %d", i, int64(ratelimit.MaxPeriod/time.Second)))
			continue
		}
		if err := lim.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("limits[%d].%s", i, limitErrorText(err)))
			continue
		}
		p.Limits = append(p.Limits, lim)
		p.SharedByOwner = append(p.SharedByOwner, l.SharedByOwner)
	}
	if q := r.Quota; q != nil {
		lim := ratelimit.Limit{Name: QuotaName, Strategy: ratelimit.Quota, Limit: q.Credits, Refill: q.Refill}
		if q.TimeZone != "" {
			loc, err := time.LoadLocation(q.TimeZone)
			if err != nil {
				errs = append(errs, fmt.Errorf("quota.timeZone: unknown time zone %q", q.TimeZone))
			}
			lim.Location = loc
		}
		if err := lim.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("quota.%s", limitErrorText(err)))
		} else {
			p.Limits = append(p.Limits, lim)
			p.SharedByOwner = append(p.SharedByOwner, q.SharedByOwner)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Costs)) {
		c := r.Costs[name]
		a, err := scope.ParseAction(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("costs: %w", err))
			continue
		}
		if c < 0 || c > ratelimit.MaxLimit {
			errs = append(errs, fmt.Errorf("costs.%s: %d is out of range", name, c))
			continue
		}
		p.costs[a] = c
		for _, l := range p.Limits {
			if c > l.Capacity() {
				errs = append(errs, fmt.Errorf("costs.%s: a cost of %d is more than limit %q can ever hold (%d)", name, c, l.Name, l.Capacity()))
			}
		}
	}
	if len(r.Costs) > 0 && len(p.Limits) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("costs: there are no limits or quota to spend from"))
	}
	return p, errors.Join(errs...)
}

func limitErrorText(err error) string {
	var le *ratelimit.LimitError
	if errors.As(err, &le) {
		return le.Field + ": " + le.Reason
	}
	return err.Error()
}
