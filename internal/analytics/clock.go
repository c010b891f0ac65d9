package analytics

import (
	"math"
	"time"
)

// The store keeps times as minutes since 2000-01-01 UTC in a uint32, half
// the size of a time.Time eight hundred times over per key; 0 means none.
// A minute outside that range (before 2000 or after year 10000) is refused.
const epochUnix = 946684800

// minuteOf is t's minute index, false when t is outside what the store keeps.
func minuteOf(t time.Time) (uint32, bool) {
	s := t.Unix() - epochUnix
	if s < 60 || s/60 >= math.MaxUint32 {
		return 0, false
	}
	return uint32(s / 60), true
}

// timeOf is the start of minute index i, UTC.
func timeOf(i uint32) time.Time {
	return time.Unix(epochUnix+int64(i)*60, 0).UTC()
}

// hourOf is the clock hour that holds minute i.
func hourOf(i uint32) uint32 { return i / 60 }

// dayOf is the UTC day that holds minute i.
func dayOf(i uint32) uint32 { return i / (24 * 60) }

// hourOfDay is the UTC hour of the day of hour h.
func hourOfDay(h uint32) int { return int(h % 24) }

// clock formats a minute as a person reads it in a message.
func clock(i uint32) string { return timeOf(i).Format("15:04 UTC") }

// since is how long from minute a to minute b, for messages.
func since(a, b uint32) time.Duration {
	if b < a {
		return 0
	}
	return time.Duration(b-a) * time.Minute
}
