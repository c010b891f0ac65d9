package ratelimit

import (
	"testing"
	"time"
)

func TestQuotaPeriodEnd(t *testing.T) {
	now := time.Date(2026, 11, 23, 23, 30, 0, 0, time.UTC) // 00:30 on the 24th in Berlin
	for _, c := range []struct {
		r    Refill
		loc  *time.Location
		want time.Time
	}{
		{Daily, time.UTC, time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)},
		{Daily, mustZone("Europe/Berlin"), time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)},
		{Monthly, time.UTC, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{Monthly, nil, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if got := QuotaPeriodEnd(c.r, c.loc, now); !got.Equal(c.want) {
			t.Errorf("%s in %s: got %s, want %s", c.r, c.loc, got, c.want)
		}
	}
}
