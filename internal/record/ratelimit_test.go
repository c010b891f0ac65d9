package record

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/scope"
)

func TestRateLimitCompiles(t *testing.T) {
	g := NewWithT(t)
	p, err := RateLimit{
		Limits: []Limit{
			{Name: "per-second", Strategy: ratelimit.TokenBucket, Limit: 10, PeriodSeconds: 1, Burst: 20},
			{Name: "team", Strategy: ratelimit.SlidingWindow, Limit: 600, PeriodSeconds: 60, SharedByOwner: true},
		},
		Quota: &Quota{Credits: 100000, Refill: ratelimit.Monthly, TimeZone: "Europe/Berlin"},
		Costs: map[string]int64{"write": 5, "read": 0},
	}.Compile()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(p.Limits).To(HaveLen(3))
	g.Expect(p.Limits[0].Period).To(Equal(time.Second))
	g.Expect(p.Limits[0].Capacity()).To(Equal(int64(20)))
	g.Expect(p.SharedByOwner).To(Equal([]bool{false, true, false}))
	g.Expect(p.HasQuota()).To(BeTrue())
	g.Expect(p.Limits[2].Location.String()).To(Equal("Europe/Berlin"))
	g.Expect(p.Cost(scope.Write)).To(Equal(int64(5)))
	g.Expect(p.Cost(scope.Read)).To(Equal(int64(0)))
	g.Expect(p.Cost(scope.Delete)).To(Equal(int64(1)), "an action not listed costs 1")
}

func TestRateLimitRefusals(t *testing.T) {
	ok := Limit{Name: "per-second", Strategy: ratelimit.FixedWindow, Limit: 10, PeriodSeconds: 1}
	cases := map[string]struct {
		rl   RateLimit
		want string
	}{
		"burst on a window": {RateLimit{Limits: []Limit{{Name: "a", Strategy: ratelimit.FixedWindow, Limit: 1, PeriodSeconds: 1, Burst: 5}}},
			"limits[0].burst: applies only to TokenBucket"},
		"a name used twice":   {RateLimit{Limits: []Limit{ok, ok}}, `limits[1].name: "per-second" is empty, reserved or used twice`},
		"a quota in limits":   {RateLimit{Limits: []Limit{{Name: "q", Strategy: ratelimit.Quota, Limit: 1}}}, "limits[0].strategy: a quota belongs in quota"},
		"an unknown strategy": {RateLimit{Limits: []Limit{{Name: "a", Strategy: "Leaky", Limit: 1, PeriodSeconds: 1}}}, `limits[0].strategy: "Leaky" is not one of`},
		"a cost over capacity": {RateLimit{Limits: []Limit{ok}, Costs: map[string]int64{"write": 11}},
			`costs.write: a cost of 11 is more than limit "per-second" can ever hold (10)`},
		"an unknown action":    {RateLimit{Limits: []Limit{ok}, Costs: map[string]int64{"fly": 1}}, "costs:"},
		"costs without limits": {RateLimit{Costs: map[string]int64{"write": 2}}, "costs: there are no limits or quota to spend from"},
		"an unknown time zone": {RateLimit{Quota: &Quota{Credits: 1, Refill: ratelimit.Daily, TimeZone: "Mars/Base"}}, `quota.timeZone: unknown time zone "Mars/Base"`},
		"an unknown refill":    {RateLimit{Quota: &Quota{Credits: 1, Refill: "Weekly"}}, `quota.refill: "Weekly" is not one of Daily, Monthly`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := tc.rl.Compile()
			NewWithT(t).Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

func TestRecordRefusesABadRateLimit(t *testing.T) {
	g := NewWithT(t)
	r, _ := validRecord(t)
	r.RateLimit = RateLimit{Quota: &Quota{Credits: 0, Refill: ratelimit.Daily}}
	_, err := Encode(r)
	g.Expect(err).To(MatchError(ContainSubstring("rateLimit: quota.limit: must be positive")))
	r.RateLimit = RateLimit{}
	b, err := Encode(r)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(b)).NotTo(ContainSubstring("rateLimit"), "no limits, no field: older verifiers read the same record")
}
