package ratelimit

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestLimitValidate(t *testing.T) {
	berlin := mustZone("Europe/Berlin")
	cases := map[string]struct {
		limit      Limit
		field, why string // empty: valid
	}{
		"fixed":                   {Limit{Name: "s", Strategy: FixedWindow, Limit: 10, Period: time.Second}, "", ""},
		"sliding":                 {Limit{Name: "s", Strategy: SlidingWindow, Limit: 10, Period: time.Minute}, "", ""},
		"token, burst":            {Limit{Name: "s", Strategy: TokenBucket, Limit: 10, Period: time.Second, Burst: 50}, "", ""},
		"token, no burst":         {Limit{Name: "s", Strategy: TokenBucket, Limit: 10, Period: time.Second}, "", ""},
		"quota, zone":             {Limit{Name: "s", Strategy: Quota, Limit: 10, Refill: Monthly, Location: berlin}, "", ""},
		"quota, UTC by default":   {Limit{Name: "s", Strategy: Quota, Limit: 10, Refill: Daily}, "", ""},
		"largest limit":           {Limit{Name: "s", Strategy: FixedWindow, Limit: MaxLimit, Period: MaxPeriod}, "", ""},
		"slow token bucket":       {Limit{Name: "s", Strategy: TokenBucket, Limit: 1, Period: 24 * time.Hour, Burst: 3650}, "", ""},
		"no strategy":             {Limit{Name: "s", Limit: 10, Period: time.Second}, "strategy", `"" is not one of FixedWindow, SlidingWindow, TokenBucket, Quota`},
		"unknown strategy":        {Limit{Name: "s", Strategy: "LeakyBucket", Limit: 10, Period: time.Second}, "strategy", `"LeakyBucket" is not one of FixedWindow, SlidingWindow, TokenBucket, Quota`},
		"zero limit":              {Limit{Name: "s", Strategy: FixedWindow, Period: time.Second}, "limit", "must be positive"},
		"negative limit":          {Limit{Name: "s", Strategy: FixedWindow, Limit: -1, Period: time.Second}, "limit", "must be positive"},
		"huge limit":              {Limit{Name: "s", Strategy: FixedWindow, Limit: MaxLimit + 1, Period: time.Second}, "limit", "must be at most 9007199254740992"},
		"negative burst":          {Limit{Name: "s", Strategy: TokenBucket, Limit: 1, Period: time.Second, Burst: -1}, "burst", "must not be negative"},
		"huge burst":              {Limit{Name: "s", Strategy: TokenBucket, Limit: 1, Period: time.Nanosecond, Burst: MaxLimit + 1}, "burst", "must be at most 9007199254740992"},
		"burst on a window":       {Limit{Name: "s", Strategy: FixedWindow, Limit: 1, Period: time.Second, Burst: 2}, "burst", "applies only to TokenBucket"},
		"zero period":             {Limit{Name: "s", Strategy: SlidingWindow, Limit: 1}, "period", "must be positive"},
		"negative period":         {Limit{Name: "s", Strategy: TokenBucket, Limit: 1, Period: -time.Second}, "period", "must be positive"},
		"period too long":         {Limit{Name: "s", Strategy: FixedWindow, Limit: 1, Period: MaxPeriod + 1}, "period", "must be at most 87840h0m0s"},
		"refill on a window":      {Limit{Name: "s", Strategy: FixedWindow, Limit: 1, Period: time.Second, Refill: Daily}, "refill", "applies only to Quota"},
		"location on a bucket":    {Limit{Name: "s", Strategy: TokenBucket, Limit: 1, Period: time.Second, Location: berlin}, "location", "applies only to Quota"},
		"quota without refill":    {Limit{Name: "s", Strategy: Quota, Limit: 1}, "refill", `"" is not one of Daily, Monthly`},
		"quota, unknown refill":   {Limit{Name: "s", Strategy: Quota, Limit: 1, Refill: "Weekly"}, "refill", `"Weekly" is not one of Daily, Monthly`},
		"quota with a period":     {Limit{Name: "s", Strategy: Quota, Limit: 1, Refill: Daily, Period: time.Hour}, "period", "is unused by Quota, whose periods come from refill"},
		"bucket refills too slow": {Limit{Name: "s", Strategy: TokenBucket, Limit: 1, Period: 24 * time.Hour, Burst: 3661}, "burst", "takes longer than 87840h0m0s to refill at this limit and period"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := tc.limit.Validate()
			if tc.field == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(Equal(&LimitError{Name: "s", Field: tc.field, Reason: tc.why}))
			g.Expect(err.Error()).To(Equal(`limit "s": ` + tc.field + " " + tc.why))
		})
	}
}

func TestLimitCapacity(t *testing.T) {
	cases := map[string]struct {
		limit Limit
		want  int64
	}{
		"window":              {Limit{Strategy: FixedWindow, Limit: 7}, 7},
		"token bucket":        {Limit{Strategy: TokenBucket, Limit: 7, Burst: 20}, 20},
		"token bucket, burst": {Limit{Strategy: TokenBucket, Limit: 7}, 7},
		"quota":               {Limit{Strategy: Quota, Limit: 1000}, 1000},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(tc.limit.Capacity()).To(Equal(tc.want))
		})
	}
}

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}
