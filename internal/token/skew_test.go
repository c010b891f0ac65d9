package token

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

type observation struct {
	client string
	skew   time.Duration // how far the client's iat is behind our clock
	at     time.Duration // our clock, from t0
	err    error
}

func TestSkewTracker(t *testing.T) {
	const threshold, timeout = 10 * time.Second, 5 * time.Minute
	tests := []struct {
		name  string
		limit int
		steps []observation
	}{
		{"a steady offset is fine, however large", 10, []observation{
			{client: "c", skew: 90 * time.Second},
			{client: "c", skew: 95 * time.Second, at: time.Minute},
			{client: "c", skew: 100 * time.Second, at: 2 * time.Minute},
		}},
		{"drift is followed step by step", 10, []observation{
			{client: "c", skew: 0},
			{client: "c", skew: 10 * time.Second, at: time.Minute},
			{client: "c", skew: 20 * time.Second, at: 2 * time.Minute},
		}},
		{"a jump refuses the client until the timeout", 10, []observation{
			{client: "c", skew: 0},
			{client: "c", skew: 11 * time.Second, at: time.Minute, err: ErrClockSkewJump},
			{client: "c", skew: 0, at: time.Minute + timeout - time.Second, err: ErrClientRefused},
			{client: "c", skew: 11 * time.Second, at: time.Minute + timeout},
			{client: "c", skew: 12 * time.Second, at: time.Minute + timeout + time.Second},
		}},
		{"a jump backwards counts too", 10, []observation{
			{client: "c", skew: 30 * time.Second},
			{client: "c", skew: -30 * time.Second, at: time.Minute, err: ErrClockSkewJump},
		}},
		{"clients are independent", 10, []observation{
			{client: "a", skew: 0},
			{client: "b", skew: time.Hour},
			{client: "a", skew: time.Hour, err: ErrClockSkewJump},
			{client: "b", skew: time.Hour},
		}},
		{"when full the least recently seen client is forgotten", 2, []observation{
			{client: "a", skew: 0},
			{client: "b", skew: 0, at: time.Second},
			{client: "c", skew: 0, at: 2 * time.Second},
			{client: "a", skew: time.Hour, at: 3 * time.Second},
			{client: "c", skew: time.Hour, at: 4 * time.Second, err: ErrClockSkewJump},
		}},
		{"a refused client is never forgotten to make room", 1, []observation{
			{client: "a", skew: 0},
			{client: "a", skew: time.Hour, err: ErrClockSkewJump},
			{client: "b", skew: 0, at: time.Second, err: ErrSkewTrackerFull},
			{client: "a", skew: 0, at: time.Second, err: ErrClientRefused},
			{client: "b", skew: 0, at: timeout},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			tr := NewSkewTracker(threshold, timeout, tc.limit)
			for i, o := range tc.steps {
				now := t0.Add(o.at)
				err := tr.Observe(o.client, now.Add(-o.skew), now)
				if o.err != nil {
					g.Expect(err).To(MatchError(o.err), "step %d", i)
				} else {
					g.Expect(err).NotTo(HaveOccurred(), "step %d", i)
				}
				g.Expect(tr.Len()).To(BeNumerically("<=", tc.limit))
			}
		})
	}
}

func TestSkewTrackerEvictLiftsARefusal(t *testing.T) {
	g := NewWithT(t)
	tr := NewSkewTracker(10*time.Second, time.Hour, 10)
	g.Expect(tr.Observe("c", t0, t0)).To(Succeed())
	g.Expect(tr.Observe("c", t0, t0.Add(time.Minute))).To(MatchError(ErrClockSkewJump))
	g.Expect(tr.Refused("c", t0.Add(time.Minute))).To(BeTrue())

	tr.Evict("c")
	g.Expect(tr.Refused("c", t0.Add(time.Minute))).To(BeFalse())
	g.Expect(tr.Len()).To(BeZero())
	g.Expect(tr.Observe("c", t0, t0.Add(time.Minute))).To(Succeed())
}
