package ratelimit

import (
	"testing"
	"time"
	_ "time/tzdata" // the same zones on every machine

	. "github.com/onsi/gomega"
)

func at(zone, layout string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04 -0700", layout, mustZone(zone))
	if err != nil {
		panic(err)
	}
	return t
}

func TestQuotaPeriod(t *testing.T) {
	cases := map[string]struct {
		refill     Refill
		zone       string
		now        string
		start, end string // with their offsets, so the DST side is explicit
		length     time.Duration
	}{
		"day, UTC":                     {Daily, "UTC", "2026-05-10 13:00 +0000", "2026-05-10 00:00 +0000", "2026-05-11 00:00 +0000", 24 * time.Hour},
		"day, half-hour zone":          {Daily, "Asia/Kolkata", "2026-05-10 00:10 +0530", "2026-05-10 00:00 +0530", "2026-05-11 00:00 +0530", 24 * time.Hour},
		"day clocks go forward":        {Daily, "Europe/Berlin", "2026-03-29 12:00 +0200", "2026-03-29 00:00 +0100", "2026-03-30 00:00 +0200", 23 * time.Hour},
		"day clocks go back":           {Daily, "Europe/Berlin", "2026-10-25 02:30 +0100", "2026-10-25 00:00 +0200", "2026-10-26 00:00 +0100", 25 * time.Hour},
		"day before clocks go forward": {Daily, "Europe/Berlin", "2026-03-28 23:59 +0100", "2026-03-28 00:00 +0100", "2026-03-29 00:00 +0100", 24 * time.Hour},
		"half-hour DST":                {Daily, "Australia/Lord_Howe", "2026-10-04 12:00 +1100", "2026-10-04 00:00 +1030", "2026-10-05 00:00 +1100", 23*time.Hour + 30*time.Minute},
		// Chile moves its clocks at midnight: 2026-09-06 begins at 01:00,
		// and 23:00–24:00 the evening before still belongs to the 5th.
		"midnight skipped":              {Daily, "America/Santiago", "2026-09-06 01:00 -0300", "2026-09-06 01:00 -0300", "2026-09-07 00:00 -0300", 23 * time.Hour},
		"evening before a skipped day":  {Daily, "America/Santiago", "2026-09-05 23:30 -0400", "2026-09-05 00:00 -0400", "2026-09-06 01:00 -0300", 24 * time.Hour},
		"midnight skipped, Beirut":      {Daily, "Asia/Beirut", "2026-03-29 09:00 +0300", "2026-03-29 01:00 +0300", "2026-03-30 00:00 +0300", 23 * time.Hour},
		"midnight twice, first counts":  {Daily, "America/Havana", "2026-11-01 00:30 -0500", "2026-11-01 00:00 -0400", "2026-11-02 00:00 -0500", 25 * time.Hour},
		"Chile falls back before 00:00": {Daily, "America/Santiago", "2026-04-04 23:30 -0400", "2026-04-04 00:00 -0300", "2026-04-05 00:00 -0400", 25 * time.Hour},
		"month, January":                {Monthly, "America/New_York", "2026-01-31 23:59 -0500", "2026-01-01 00:00 -0500", "2026-02-01 00:00 -0500", 31 * 24 * time.Hour},
		"month, February":               {Monthly, "America/New_York", "2026-02-01 00:00 -0500", "2026-02-01 00:00 -0500", "2026-03-01 00:00 -0500", 28 * 24 * time.Hour},
		"month, leap February":          {Monthly, "America/New_York", "2028-02-29 12:00 -0500", "2028-02-01 00:00 -0500", "2028-03-01 00:00 -0500", 29 * 24 * time.Hour},
		"month with DST start":          {Monthly, "America/New_York", "2026-03-08 03:00 -0400", "2026-03-01 00:00 -0500", "2026-04-01 00:00 -0400", 31*24*time.Hour - time.Hour},
		"month, April":                  {Monthly, "America/New_York", "2026-04-15 00:00 -0400", "2026-04-01 00:00 -0400", "2026-05-01 00:00 -0400", 30 * 24 * time.Hour},
		"month with DST end":            {Monthly, "America/New_York", "2026-11-30 23:59 -0500", "2026-11-01 00:00 -0400", "2026-12-01 00:00 -0500", 30*24*time.Hour + time.Hour},
		"month, December into January":  {Monthly, "Asia/Tokyo", "2026-12-31 23:59 +0900", "2026-12-01 00:00 +0900", "2027-01-01 00:00 +0900", 31 * 24 * time.Hour},
		"month, UTC":                    {Monthly, "UTC", "2026-06-30 23:59 +0000", "2026-06-01 00:00 +0000", "2026-07-01 00:00 +0000", 30 * 24 * time.Hour},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s, e := quotaPeriod(tc.refill, mustZone(tc.zone), at(tc.zone, tc.now).UnixNano())
			g.Expect(time.Unix(0, s)).To(BeTemporally("==", at(tc.zone, tc.start)))
			g.Expect(time.Unix(0, e)).To(BeTemporally("==", at(tc.zone, tc.end)))
			g.Expect(time.Duration(e - s)).To(Equal(tc.length))
		})
	}
}

// TestFirstInstantEveryDay checks the definition itself on every day of
// two years in zones with unusual transitions: the first instant has the
// date, the nanosecond before it does not.
func TestFirstInstantEveryDay(t *testing.T) {
	zones := []string{
		"UTC", "Europe/Berlin", "America/New_York", "America/Santiago", "America/Havana",
		"America/Asuncion", "Asia/Beirut", "Africa/Cairo", "Africa/Casablanca", "Asia/Tehran",
		"Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kathmandu", "America/Nuuk",
		"America/Scoresbysund", "Pacific/Apia", "America/St_Johns", "Antarctica/Troll",
	}
	for _, zone := range zones {
		t.Run(zone, func(t *testing.T) {
			g := NewWithT(t)
			loc := mustZone(zone)
			for d := 0; d < 2*366; d++ {
				want := time.Date(2025, time.January, 1+d, 0, 0, 0, 0, time.UTC)
				first := firstInstant(2025, time.January, 1+d, loc)
				g.Expect(dateOf(first.In(loc))).To(Equal(want), "%s day %d", zone, d)
				g.Expect(dateOf(first.Add(-time.Nanosecond).In(loc))).To(BeTemporally("<", want), "%s day %d", zone, d)
			}
		})
	}
}

// TestQuotaRefillsOnTheCalendar spends a monthly quota across month ends
// of every length and a daily quota across both DST days.
func TestQuotaRefillsOnTheCalendar(t *testing.T) {
	ny := mustZone("America/New_York")
	berlin := mustZone("Europe/Berlin")
	monthly := Limit{Name: "month", Strategy: Quota, Limit: 100, Refill: Monthly, Location: ny}
	daily := Limit{Name: "day", Strategy: Quota, Limit: 10, Refill: Daily, Location: berlin}
	type spend struct {
		at      time.Time
		cost    int64
		allowed bool
		left    int64
		reset   time.Duration
	}
	cases := map[string]struct {
		limit Limit
		steps []spend
	}{
		"months of 31, 28, 29, 30 days": {monthly, []spend{
			{at("America/New_York", "2026-01-31 23:59 -0500"), 100, true, 0, time.Minute},
			{at("America/New_York", "2026-02-01 00:00 -0500"), 100, true, 0, 28 * 24 * time.Hour},
			{at("America/New_York", "2026-02-28 23:59 -0500"), 1, false, 0, time.Minute},
			{at("America/New_York", "2026-03-01 00:00 -0500"), 60, true, 40, 31*24*time.Hour - time.Hour},
			{at("America/New_York", "2026-03-31 23:59 -0400"), 41, false, 40, time.Minute},
			{at("America/New_York", "2026-04-01 00:00 -0400"), 41, true, 59, 30 * 24 * time.Hour},
			{at("America/New_York", "2028-02-29 23:59 -0500"), 100, true, 0, time.Minute},
			{at("America/New_York", "2028-03-01 00:00 -0500"), 100, true, 0, 31*24*time.Hour - time.Hour},
		}},
		"days of 23 and 25 hours": {daily, []spend{
			{at("Europe/Berlin", "2026-03-28 23:00 +0100"), 10, true, 0, time.Hour},
			{at("Europe/Berlin", "2026-03-29 00:00 +0100"), 10, true, 0, 23 * time.Hour},
			{at("Europe/Berlin", "2026-03-29 23:59 +0200"), 1, false, 0, time.Minute},
			{at("Europe/Berlin", "2026-10-25 00:00 +0200"), 10, true, 0, 25 * time.Hour},
			{at("Europe/Berlin", "2026-10-25 02:30 +0100"), 1, false, 0, 21*time.Hour + 30*time.Minute},
			{at("Europe/Berlin", "2026-10-26 00:00 +0100"), 1, true, 9, 24 * time.Hour},
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			var s State
			for i, st := range tc.steps {
				next, res, err := Take(tc.limit, s, st.at, st.cost)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(res.Allowed).To(Equal(st.allowed), "step %d", i)
				g.Expect(res.Remaining).To(Equal(st.left), "step %d", i)
				g.Expect(res.Reset).To(Equal(st.reset), "step %d", i)
				if !st.allowed {
					g.Expect(res.RetryAfter).To(Equal(st.reset), "step %d", i)
				}
				s = next
			}
		})
	}
}
