package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

const (
	// MaxLimit bounds Limit, Burst and Cost so that every count a bucket
	// holds is exact in a float64 (2^53), in JSON and in any store whose
	// scripting language has only doubles.
	MaxLimit = 1 << 53

	// MaxPeriod bounds Period, and the time a TokenBucket takes to refill
	// from empty, so that a time plus a period never overflows int64
	// nanoseconds before the year 2200.
	MaxPeriod = 10 * 366 * 24 * time.Hour
)

// LimitError names what is wrong with a Limit, with the field apart from
// the reason so that admission can report it against its own field path.
type LimitError struct {
	Name   string
	Field  string
	Reason string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("limit %q: %s %s", e.Name, e.Field, e.Reason)
}

var (
	// ErrCostExceedsCapacity: a request costs more than its limit can ever
	// hold, so waiting would not help (a 413 rather than a 429).
	ErrCostExceedsCapacity = errors.New("cost exceeds the limit's capacity")
	// ErrInvalidRequest wraps every other problem with a Request.
	ErrInvalidRequest = errors.New("invalid rate-limit request")
)

// Capacity is the most a bucket holds: Burst for a TokenBucket that sets
// it, Limit otherwise. No single request may cost more.
func (l Limit) Capacity() int64 {
	if l.Strategy == TokenBucket && l.Burst > 0 {
		return l.Burst
	}
	return l.Limit
}

// Validate reports the first problem with l, or nil. A Quota's nil
// Location means UTC.
func (l Limit) Validate() error {
	bad := func(field, reason string) error {
		return &LimitError{Name: l.Name, Field: field, Reason: reason}
	}
	switch l.Strategy {
	case FixedWindow, SlidingWindow, TokenBucket, Quota:
	default:
		return bad("strategy", fmt.Sprintf("%q is not one of FixedWindow, SlidingWindow, TokenBucket, Quota", l.Strategy))
	}
	if l.Limit <= 0 {
		return bad("limit", "must be positive")
	}
	if l.Limit > MaxLimit {
		return bad("limit", "must be at most "+strconv.FormatInt(MaxLimit, 10))
	}
	if l.Burst < 0 {
		return bad("burst", "must not be negative")
	}
	if l.Burst > MaxLimit {
		return bad("burst", "must be at most "+strconv.FormatInt(MaxLimit, 10))
	}
	if l.Burst != 0 && l.Strategy != TokenBucket {
		return bad("burst", "applies only to TokenBucket")
	}
	if l.Strategy == Quota {
		if l.Period != 0 {
			return bad("period", "is unused by Quota, whose periods come from refill")
		}
		if l.Refill != Daily && l.Refill != Monthly {
			return bad("refill", fmt.Sprintf("%q is not one of Daily, Monthly", l.Refill))
		}
		return nil
	}
	if l.Refill != "" {
		return bad("refill", "applies only to Quota")
	}
	if l.Location != nil {
		return bad("location", "applies only to Quota")
	}
	if l.Period <= 0 {
		return bad("period", "must be positive")
	}
	if l.Period > MaxPeriod {
		return bad("period", "must be at most "+MaxPeriod.String())
	}
	if l.Strategy == TokenBucket {
		if fill, ok := mulDivCeil(uint64(l.Capacity()), uint64(l.Period), uint64(l.Limit)); !ok || fill > uint64(MaxPeriod) {
			return bad("burst", "takes longer than "+MaxPeriod.String()+" to refill at this limit and period")
		}
	}
	return nil
}

// validate checks a request's cost against an already valid limit.
func (r *Request) validate() error {
	if r.Key == "" {
		return fmt.Errorf("limit %q: empty bucket key: %w", r.Limit.Name, ErrInvalidRequest)
	}
	if r.Cost < 0 {
		return fmt.Errorf("limit %q: cost %d is negative: %w", r.Limit.Name, r.Cost, ErrInvalidRequest)
	}
	if r.Cost > r.Limit.Capacity() {
		return fmt.Errorf("limit %q: cost %d over capacity %d: %w", r.Limit.Name, r.Cost, r.Limit.Capacity(), ErrCostExceedsCapacity)
	}
	return nil
}

// The clock a store accepts: from the Unix epoch (windows are aligned to
// it and slot numbers stay non-negative) to 2200 (MaxPeriod later still
// fits int64 nanoseconds).
var (
	minTime = time.Unix(0, 0)
	maxTime = time.Date(2200, time.January, 1, 0, 0, 0, 0, time.UTC)
)

func unixNanos(now time.Time) (int64, error) {
	if now.Before(minTime) || !now.Before(maxTime) {
		return 0, fmt.Errorf("time %s is outside 1970–2199: %w", now.UTC().Format(time.RFC3339), ErrInvalidRequest)
	}
	return now.UnixNano(), nil
}
