package policy

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
)

func limits(ls ...record.Limit) record.RateLimit { return record.RateLimit{Limits: ls} }

func TestCeilingComparesRatesExactly(t *testing.T) {
	c := Ceiling{Limit: 100, Period: time.Second}
	cases := map[string]struct {
		l    ratelimit.Limit
		want bool
	}{
		"the same":                    {ratelimit.Limit{Strategy: ratelimit.TokenBucket, Limit: 100, Period: time.Second}, true},
		"slower":                      {ratelimit.Limit{Strategy: ratelimit.SlidingWindow, Limit: 99, Period: time.Second}, true},
		"one more":                    {ratelimit.Limit{Strategy: ratelimit.SlidingWindow, Limit: 101, Period: time.Second}, false},
		"same rate, bigger window":    {ratelimit.Limit{Strategy: ratelimit.FixedWindow, Limit: 6000, Period: time.Minute}, false},
		"slower, small burst":         {ratelimit.Limit{Strategy: ratelimit.TokenBucket, Limit: 3000, Period: time.Minute, Burst: 100}, true},
		"huge values do not overflow": {ratelimit.Limit{Strategy: ratelimit.TokenBucket, Limit: 1 << 52, Period: ratelimit.MaxPeriod, Burst: 100}, false},
	}
	for name, tc := range cases {
		NewWithT(t).Expect(c.within(tc.l)).To(Equal(tc.want), name)
	}
}

func TestDelegatedLimits(t *testing.T) {
	parent := Parent{Name: "org", RateLimit: record.RateLimit{
		Limits: []record.Limit{{Name: "per-second", Strategy: ratelimit.TokenBucket, Limit: 10, PeriodSeconds: 1, Burst: 20}},
		Quota:  &record.Quota{Credits: 1000, Refill: ratelimit.Daily},
	}}
	quota := &record.Quota{Credits: 500, Refill: ratelimit.Daily}
	strict := record.Limit{Name: "a", Strategy: ratelimit.SlidingWindow, Limit: 5, PeriodSeconds: 1}
	cases := map[string]struct {
		child record.RateLimit
		want  []string
	}{
		"stricter":  {record.RateLimit{Limits: []record.Limit{strict}, Quota: quota}, nil},
		"no limits": {record.RateLimit{}, []string{`spec.rateLimit.limits: parent key "org" is limited to 10 per 1s (at most 20 at once)`, `spec.rateLimit.quota: parent key "org" has a Daily quota of 1000 credits`}},
		"a bigger quota": {record.RateLimit{Limits: []record.Limit{strict}, Quota: &record.Quota{Credits: 5000, Refill: ratelimit.Daily}},
			[]string{`spec.rateLimit.quota:`}},
		"another refill": {record.RateLimit{Limits: []record.Limit{strict}, Quota: &record.Quota{Credits: 5, Refill: ratelimit.Monthly}},
			[]string{`spec.rateLimit.quota:`}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			expectViolations(NewWithT(t), delegatedLimits(Key{RateLimit: tc.child}, parent), tc.want)
		})
	}
}

func TestCeilingNeedsOneLimitWithin(t *testing.T) {
	g := NewWithT(t)
	r := Rules{Name: "p", RateLimitCeiling: &Ceiling{Limit: 10, Period: time.Second}}
	loose := record.Limit{Name: "loose", Strategy: ratelimit.FixedWindow, Limit: 1000, PeriodSeconds: 1}
	tight := record.Limit{Name: "tight", Strategy: ratelimit.TokenBucket, Limit: 10, PeriodSeconds: 1}
	g.Expect(r.checkCeiling(Key{RateLimit: limits(loose)})).To(HaveLen(1))
	g.Expect(r.checkCeiling(Key{RateLimit: limits(loose, tight)})).To(BeEmpty(), "the tight limit bounds the key whatever the loose one says")
	g.Expect(r.checkCeiling(Key{RateLimit: record.RateLimit{Quota: &record.Quota{Credits: 1, Refill: ratelimit.Daily}}})).To(HaveLen(1), "a quota is not a rate")
}

// expectViolations checks that vs are exactly the violations whose
// "field: message" begin with want, in order.
func expectViolations(g Gomega, vs []Violation, want []string) {
	var got []string
	for _, v := range vs {
		got = append(got, v.String())
	}
	g.Expect(got).To(HaveLen(len(want)), "%v", got)
	for i, w := range want {
		g.Expect(got[i]).To(HavePrefix(w))
	}
}
