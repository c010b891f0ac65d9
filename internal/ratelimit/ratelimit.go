package ratelimit

import (
	"context"
	"time"
)

// Strategy is how a limit counts.
type Strategy string

const (
	// FixedWindow counts cost per aligned window of Period; a client may
	// spend up to twice the limit across a window boundary.
	FixedWindow Strategy = "FixedWindow"
	// SlidingWindow counts cost over the Period before each request.
	SlidingWindow Strategy = "SlidingWindow"
	// TokenBucket refills Limit tokens per Period, holding at most Burst.
	TokenBucket Strategy = "TokenBucket"
	// Quota is a budget of Limit per calendar Refill period (a day or a
	// month in a time zone), refilled at the period's start.
	Quota Strategy = "Quota"
)

// Refill is the calendar period of a Quota.
type Refill string

const (
	Daily   Refill = "Daily"
	Monthly Refill = "Monthly"
)

// Limit is one limit on one key (or on every key of an owner: the caller
// chooses the bucket key).
type Limit struct {
	// Name identifies the limit in headers and errors, e.g. "per-second".
	Name     string
	Strategy Strategy
	// Limit is the cost allowed per Period (windows, Quota per refill) or
	// the tokens added per Period (TokenBucket).
	Limit int64
	// Period is the window or refill interval; unused by Quota.
	Period time.Duration
	// Burst is a TokenBucket's capacity; 0 means Limit.
	Burst int64
	// Refill and Location place a Quota's periods on the calendar.
	Refill   Refill
	Location *time.Location
}

// Request asks to consume Cost from the bucket Key under Limit.
type Request struct {
	Key   string
	Limit Limit
	Cost  int64
}

// Result is the state of one bucket after a request.
type Result struct {
	Limit Limit
	// Allowed: the cost was within this limit.
	Allowed bool
	// Remaining is what is left to spend now (never negative).
	Remaining int64
	// Reset is how long until the bucket is full again (windows: their
	// end; token bucket: until Burst is back).
	Reset time.Duration
	// RetryAfter, when not Allowed, is how long until the same cost would
	// be allowed.
	RetryAfter time.Duration
}

// Store keeps buckets. TakeAll is all or nothing: when any request is over
// its limit, none of them consumes anything, so a request refused by its
// per-day quota does not also spend its per-second allowance.
type Store interface {
	TakeAll(ctx context.Context, now time.Time, reqs []Request) ([]Result, error)
}
