package ratelimit

import "time"

// quotaPeriod is the calendar day or month of loc that holds now, as Unix
// nanoseconds [start, end).
func quotaPeriod(r Refill, loc *time.Location, now int64) (start, end int64) {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := time.Unix(0, now).In(loc).Date()
	if r == Monthly {
		d = 1
	}
	next := func(step int) (int, time.Month, int) {
		if r == Monthly {
			return y, m + time.Month(step), 1
		}
		return y, m, d + step
	}
	s := firstInstant(y, m, d, loc).UnixNano()
	ny, nm, nd := next(1)
	e := firstInstant(ny, nm, nd, loc).UnixNano()
	// firstInstant is exact, so these only guard the invariant
	// start ≤ now < end against a zone database that disagrees with itself.
	if now >= e {
		s = e
		ny, nm, nd = next(2)
		e = firstInstant(ny, nm, nd, loc).UnixNano()
	} else if now < s {
		e = s
		py, pm, pd := next(-1)
		s = firstInstant(py, pm, pd, loc).UnixNano()
	}
	return s, e
}

// firstInstant is the earliest instant whose date in loc is y-m-d (which
// may be denormalised, as time.Date accepts). That is 00:00 on most days,
// but not where a daylight-saving change skips midnight (the day begins at
// the end of the gap, e.g. 01:00) or repeats it (the day begins at the
// first of the two). time.Date alone picks either side of such a change.
func firstInstant(y int, m time.Month, d int, loc *time.Location) time.Time {
	want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	// Each step moves across one zone transition; a day holds very few.
	for range 4 {
		if dateOf(t).Before(want) {
			// Midnight fell into a gap and time.Date went back into the
			// previous day: the day begins where the gap ends.
			_, end := t.ZoneBounds()
			if end.IsZero() {
				return t
			}
			t = end
			continue
		}
		start, _ := t.ZoneBounds()
		if start.IsZero() {
			return t
		}
		before := start.Add(-time.Nanosecond)
		if dateOf(before).Before(want) {
			return t
		}
		// The previous offset was also on this date: midnight at that
		// offset is earlier.
		_, off := before.Zone()
		t = time.Date(y, m, d, 0, 0, 0, 0, time.FixedZone("", off)).In(loc)
	}
	return t
}

// dateOf is t's date in its own location, at midnight UTC so that dates
// compare as instants.
func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
