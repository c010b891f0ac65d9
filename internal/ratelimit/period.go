package ratelimit

import "time"

// QuotaPeriodEnd is when the quota period that holds now ends: the next
// midnight (Daily) or first of the month (Monthly) in loc. The manager
// uses it to show a refilled quota once a period is over, before any
// verifier has counted in the new one.
func QuotaPeriodEnd(r Refill, loc *time.Location, now time.Time) time.Time {
	_, end := quotaPeriod(r, loc, now.UnixNano())
	return time.Unix(0, end).UTC()
}
