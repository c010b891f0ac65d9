package usage

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/analytics"
)

func TestSumActivityAddsReplicasOncePerMinute(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	c := func(v string, n uint32) analytics.Count { return analytics.Count{Value: v, N: n} }
	a := ActivityReport{ReportedAt: t0, Keys: map[string][]analytics.Minute{"k1": {
		{Start: t0, Permits: 5, Denials: map[string]uint32{"scope_denied": 1}, VerifiedDenials: 1,
			Countries: []analytics.Count{c("DE", 2), c("FR", 1), c("IT", 1), c("ES", 1)}},
		{Start: t0.Add(time.Minute), Permits: 1},
		{Start: t0.Add(2 * time.Minute), Permits: 7},
	}}}
	b := ActivityReport{ReportedAt: t0, Keys: map[string][]analytics.Minute{"k1": {
		{Start: t0, Permits: 6, UnverifiedDenials: 4, Denials: map[string]uint32{"invalid_secret": 4},
			Countries: []analytics.Count{c("US", 5), c("FR", 1)}},
	}}}
	got := SumActivity([]ActivityReport{a, b}, t0.Add(-time.Minute), t0.Add(time.Minute))
	g.Expect(got["k1"]).To(HaveLen(2), "the minute after through is left for later")
	first := got["k1"][0]
	g.Expect(first.Permits).To(Equal(uint32(11)))
	g.Expect(first.VerifiedDenials).To(Equal(uint32(1)))
	g.Expect(first.UnverifiedDenials).To(Equal(uint32(4)))
	g.Expect(first.Denials).To(Equal(map[string]uint32{"scope_denied": 1, "invalid_secret": 4}))
	// Most frequent first, ties by code, within a Minute's bound.
	g.Expect(first.Countries).To(Equal([]analytics.Count{c("US", 5), c("DE", 2), c("FR", 2), c("ES", 1)}))
	g.Expect(first.Validate()).To(Succeed())
	g.Expect(got["k1"][1].Start).To(Equal(t0.Add(time.Minute)))

	g.Expect(SumActivity([]ActivityReport{a, b}, t0, t0.Add(time.Minute))["k1"]).To(HaveLen(1), "a minute not after `after` was committed before")
	g.Expect(SumActivity(nil, t0, t0.Add(time.Minute))).To(BeEmpty())
}

// A report that left keys out covers its minutes incompletely: all the
// minutes it carries, up to its own.
func TestIncompleteMinutesOfAReport(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	r := ActivityReport{ReportedAt: t0.Add(2*time.Minute + 40*time.Second)}
	g.Expect(r.IncompleteMinutes()).To(BeEmpty())
	r.Omitted = 1
	g.Expect(r.IncompleteMinutes()).To(Equal([]time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}))
}
