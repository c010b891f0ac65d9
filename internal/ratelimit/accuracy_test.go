package ratelimit

import (
	"math/rand/v2"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// arrival is a request at a time after t0.
type arrival struct {
	at   time.Duration
	cost int64
}

// admitted plays arrivals, in time order, against one bucket and returns
// those let through. It runs the steps of Take on one state in place:
// a million of them under the race detector is otherwise slow.
func admitted(t *testing.T, l Limit, arrivals []arrival) []arrival {
	t.Helper()
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	var c cell
	var ring [SlidingSlots]int64
	var out []arrival
	for _, a := range arrivals {
		now := t0.Add(a.at).UnixNano()
		advance(&l, &c, &ring, now)
		if a.cost <= available(&l, &c, &ring, now) {
			consume(&l, &c, &ring, a.cost)
			out = append(out, a)
		}
	}
	return out
}

// maxInWindow is the most cost admitted in any half-open window of length
// w. A window that holds the most can always start at an admission.
func maxInWindow(adm []arrival, w time.Duration) int64 {
	var best, sum int64
	j := 0
	for i := range adm {
		for j < len(adm) && adm[j].at < adm[i].at+w {
			sum += adm[j].cost
			j++
		}
		best = max(best, sum)
		sum -= adm[i].cost
	}
	return best
}

func total(as []arrival) int64 {
	var n int64
	for _, a := range as {
		n += a.cost
	}
	return n
}

func burst(at time.Duration, n int) []arrival {
	out := make([]arrival, n)
	for i := range out {
		out[i] = arrival{at, 1}
	}
	return out
}

// Strategies of the accuracy tests: 100 per 10 s window, the token
// bucket holding another 100.
var (
	fixed10s   = Limit{Name: "fixed", Strategy: FixedWindow, Limit: 100, Period: 10 * time.Second}
	sliding10s = Limit{Name: "sliding", Strategy: SlidingWindow, Limit: 100, Period: 10 * time.Second}
	bucket10s  = Limit{Name: "bucket", Strategy: TokenBucket, Limit: 100, Period: 10 * time.Second, Burst: 100}
	quotaDay   = Limit{Name: "quota", Strategy: Quota, Limit: 100, Refill: Daily}
)

// bound is the most each strategy may admit in any window of its period.
func bound(l Limit) int64 {
	switch l.Strategy {
	case FixedWindow, Quota:
		return 2 * l.Limit
	case TokenBucket:
		return l.Limit + l.Capacity()
	}
	return l.Limit
}

func period(l Limit) time.Duration {
	if l.Strategy == Quota {
		return 24 * time.Hour
	}
	return l.Period
}

func TestWindowBoundaryBursts(t *testing.T) {
	edge := 10 * time.Second
	cases := map[string]struct {
		limit Limit
		// the requests: a full burst just before a window boundary and
		// another just after it
		arrivals []arrival
		want     int64 // admitted in the worst window
	}{
		"fixed window admits twice its limit at the edge": {
			fixed10s, append(burst(edge-time.Millisecond, 100), burst(edge, 100)...), 200,
		},
		"sliding window does not": {
			sliding10s, append(burst(edge-time.Millisecond, 100), burst(edge, 100)...), 100,
		},
		"sliding window, burst spread over the edge": {
			sliding10s, append(append(burst(edge/2, 50), burst(edge-time.Millisecond, 50)...), burst(edge+edge/4, 100)...), 100,
		},
		// A window of exactly Period refills 99.99 tokens after the
		// first burst empties the bucket: L + B − 1 in all.
		"token bucket admits its burst plus what refills in the window": {
			bucket10s, append(burst(0, 100), append(burst(edge-time.Millisecond, 200), burst(edge, 200)...)...), 199,
		},
		"quota admits twice its budget around midnight": {
			quotaDay, append(burst(24*time.Hour-time.Millisecond, 100), burst(24*time.Hour, 100)...), 200,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			adm := admitted(t, tc.limit, tc.arrivals)
			g.Expect(maxInWindow(adm, period(tc.limit))).To(Equal(tc.want))
			g.Expect(tc.want).To(BeNumerically("<=", bound(tc.limit)))
		})
	}
}

// TestNoWindowExceedsTheBound throws random bursts, costs and gaps at each
// strategy and checks every window of its period.
func TestNoWindowExceedsTheBound(t *testing.T) {
	odd := Limit{Name: "odd", Strategy: SlidingWindow, Limit: 37, Period: 7777777777}
	slowBucket := Limit{Name: "slow", Strategy: TokenBucket, Limit: 7, Period: 3 * time.Second, Burst: 20}
	for _, l := range []Limit{fixed10s, sliding10s, bucket10s, quotaDay, odd, slowBucket} {
		t.Run(l.Name, func(t *testing.T) {
			g := NewWithT(t)
			rng := rand.New(rand.NewPCG(7, uint64(l.Limit)))
			p := period(l)
			for round := range 20 {
				var arrivals []arrival
				at := time.Duration(0)
				for at < 100*p {
					// Mostly bursts of requests a few at a time, some
					// long pauses, costs from 1 to 10.
					at += time.Duration(rng.ExpFloat64() * float64(p) / 40)
					if rng.IntN(20) == 0 {
						at += time.Duration(rng.Int64N(int64(p)))
					}
					for range 1 + rng.IntN(30) {
						arrivals = append(arrivals, arrival{at, 1 + rng.Int64N(min(10, l.Capacity()))})
					}
				}
				adm := admitted(t, l, arrivals)
				g.Expect(maxInWindow(adm, p)).To(BeNumerically("<=", bound(l)), "round %d", round)
				if l.Strategy == Quota {
					// And within each calendar day, the budget.
					for day := range 101 {
						var spent int64
						for _, a := range adm {
							if a.at >= time.Duration(day)*p && a.at < time.Duration(day+1)*p {
								spent += a.cost
							}
						}
						g.Expect(spent).To(BeNumerically("<=", l.Limit))
					}
				}
			}
		})
	}
}

// offered is load × limit per period for 100 periods, spread evenly or
// with each request jittered within its slot, unit cost or cost 1–10.
func offered(l Limit, load float64, jitter, weighted bool, rng *rand.Rand) []arrival {
	p := period(l)
	meanCost := 1.0
	if weighted {
		meanCost = 5.5
	}
	n := int(load * float64(l.Limit) * 100 / meanCost)
	gap := float64(100*p) / float64(n)
	out := make([]arrival, n)
	for i := range out {
		pos := float64(i)
		if jitter {
			pos += rng.Float64()
		}
		c := int64(1)
		if weighted {
			c = 1 + rng.Int64N(10)
		}
		out[i] = arrival{time.Duration(pos * gap), c}
	}
	return out
}

// exactSliding is the reference a SlidingWindow approximates: a log of
// every admission, a request admitted when the cost in (now−Period, now]
// leaves room for it.
func exactSliding(l Limit, arrivals []arrival) int64 {
	var log []arrival
	var inWindow int64 // cost of log[head:], the admissions after now−Period
	head := 0
	for _, a := range arrivals {
		for head < len(log) && log[head].at <= a.at-l.Period {
			inWindow -= log[head].cost
			head++
		}
		if inWindow+a.cost <= l.Limit {
			log = append(log, a)
			inWindow += a.cost
		}
	}
	return total(log)
}

// TestAdmittedOverAHundredWindows: at 0.9× the limit everything offered
// gets through, at 1× and 10× the limit's worth, each within 5 %. The
// limits are 1000 per window so that costs up to 10 are fine-grained
// against them; with 100, random costs alone push windows over the limit
// often enough that an exact sliding log refuses 10 % at 0.9×.
func TestAdmittedOverAHundredWindows(t *testing.T) {
	limits := []Limit{
		{Name: "fixed", Strategy: FixedWindow, Limit: 1000, Period: 10 * time.Second},
		{Name: "sliding", Strategy: SlidingWindow, Limit: 1000, Period: 10 * time.Second},
		{Name: "bucket", Strategy: TokenBucket, Limit: 1000, Period: 10 * time.Second},
		{Name: "quota", Strategy: Quota, Limit: 1000, Refill: Daily},
	}
	for _, l := range limits {
		for _, load := range []float64{0.9, 1, 10} {
			for _, shape := range []struct {
				name             string
				jitter, weighted bool
			}{{"even", false, false}, {"jittered", true, false}, {"weighted", true, true}} {
				t.Run(l.Name+"/"+shape.name+"/"+formatLoad(load), func(t *testing.T) {
					g := NewWithT(t)
					rng := rand.New(rand.NewPCG(1, uint64(load*10)))
					arrivals := offered(l, load, shape.jitter, shape.weighted, rng)
					got := total(admitted(t, l, arrivals))
					want := min(total(arrivals), 100*l.Limit)
					t.Logf("offered %d, admitted %d: %.2f%% of %d", total(arrivals), got, 100*float64(got)/float64(want), want)
					g.Expect(float64(got)).To(BeNumerically("~", float64(want), 0.05*float64(want)))
					if l.Strategy == SlidingWindow {
						// The ring forgets a cost at most one slot late,
						// 1/31 of the period: it admits at most that much
						// less than the exact log.
						exact := exactSliding(l, arrivals)
						t.Logf("exact sliding log admits %d: %.2f%%", exact, 100*float64(exact)/float64(want))
						g.Expect(float64(got)).To(BeNumerically("~", float64(exact), float64(exact)/(SlidingSlots-1)))
					}
				})
			}
		}
	}
}

func formatLoad(x float64) string {
	switch x {
	case 0.9:
		return "0.9x"
	case 1:
		return "1x"
	}
	return "10x"
}

// TestTokenBucketDoesNotDrift takes every token the moment RetryAfter
// says it is there, for 1000 periods of 3 s at 7 tokens per period: a
// rate no binary fraction holds exactly.
func TestTokenBucketDoesNotDrift(t *testing.T) {
	g := NewWithT(t)
	l := Limit{Name: "sevenths", Strategy: TokenBucket, Limit: 7, Period: 3 * time.Second}
	end := t0.Add(1000 * 3 * time.Second)
	var s State
	n := 0
	for now := t0; !now.After(end); {
		next, res, err := Take(l, s, now, 1)
		g.Expect(err).NotTo(HaveOccurred())
		s = next
		if res.Allowed {
			n++
			continue
		}
		g.Expect(res.RetryAfter).To(BeNumerically(">", 0))
		now = now.Add(res.RetryAfter)
	}
	g.Expect(n).To(Equal(7 + 7000))
}

// TestSlidingWindowForgetsWithinOneSlot: an admitted cost stops counting
// after at least Period and at most Period plus one slot.
func TestSlidingWindowForgetsWithinOneSlot(t *testing.T) {
	l := Limit{Name: "s", Strategy: SlidingWindow, Limit: 5, Period: 31 * time.Second}
	slot := time.Second
	for _, offset := range []time.Duration{0, time.Millisecond, slot / 2, slot - 1} {
		g := NewWithT(t)
		s, res, err := Take(l, State{}, t0.Add(offset), 5)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Allowed).To(BeTrue())
		// RetryAfter says when, and it is exact.
		_, res, _ = Take(l, s, t0.Add(offset), 1)
		back := offset + res.RetryAfter
		g.Expect(back - offset).To(BeNumerically(">=", l.Period))
		g.Expect(back - offset).To(BeNumerically("<=", l.Period+slot))
		_, before, _ := Take(l, s, t0.Add(back-1), 1)
		_, after, _ := Take(l, s, t0.Add(back), 1)
		g.Expect(before.Allowed).To(BeFalse())
		g.Expect(after.Allowed).To(BeTrue())
	}
}

// TestRetryAfterIsExact: for random states of each strategy, a refused
// cost fits at now+RetryAfter and not a nanosecond before.
func TestRetryAfterIsExact(t *testing.T) {
	ny := mustZone("America/New_York")
	limits := []Limit{
		fixed10s, sliding10s, bucket10s, quotaDay,
		{Name: "q", Strategy: Quota, Limit: 50, Refill: Monthly, Location: ny},
		{Name: "t", Strategy: TokenBucket, Limit: 3, Period: 7 * time.Second, Burst: 11},
		{Name: "w", Strategy: SlidingWindow, Limit: 9, Period: 1234567891},
	}
	for _, l := range limits {
		t.Run(l.Name, func(t *testing.T) {
			g := NewWithT(t)
			rng := rand.New(rand.NewPCG(3, uint64(l.Limit)))
			p := period(l)
			var s State
			now := t0
			checked := 0
			for range 3000 {
				now = now.Add(time.Duration(rng.Int64N(int64(p) / 20)))
				cost := 1 + rng.Int64N(l.Capacity())
				next, res, err := Take(l, s, now, cost)
				g.Expect(err).NotTo(HaveOccurred())
				if !res.Allowed {
					checked++
					g.Expect(res.RetryAfter).To(BeNumerically(">", 0))
					_, early, _ := Take(l, next, now.Add(res.RetryAfter-1), cost)
					_, onTime, _ := Take(l, next, now.Add(res.RetryAfter), cost)
					g.Expect(early.Allowed).To(BeFalse(), "cost %d at %s", cost, now)
					g.Expect(onTime.Allowed).To(BeTrue(), "cost %d at %s", cost, now)
				}
				s = next
			}
			g.Expect(checked).To(BeNumerically(">", 100))
		})
	}
}

// TestResetIsWhenTheBucketIsFull: after Reset, the whole capacity fits; a
// nanosecond before, it does not (unless nothing is spent).
func TestResetIsWhenTheBucketIsFull(t *testing.T) {
	for _, l := range []Limit{fixed10s, sliding10s, bucket10s, quotaDay} {
		t.Run(l.Name, func(t *testing.T) {
			g := NewWithT(t)
			rng := rand.New(rand.NewPCG(5, uint64(l.Limit)))
			var s State
			now := t0
			for range 2000 {
				now = now.Add(time.Duration(rng.Int64N(int64(period(l)) / 30)))
				next, res, err := Take(l, s, now, 1+rng.Int64N(10))
				g.Expect(err).NotTo(HaveOccurred())
				s = next
				_, full, _ := Take(l, s, now.Add(res.Reset), l.Capacity())
				g.Expect(full.Allowed).To(BeTrue())
				if res.Reset > 0 {
					_, early, _ := Take(l, s, now.Add(res.Reset-1), l.Capacity())
					g.Expect(early.Allowed).To(BeFalse())
				}
			}
		})
	}
}

func TestMaxInWindow(t *testing.T) {
	g := NewWithT(t)
	adm := []arrival{{0, 1}, {5, 2}, {9, 3}, {10, 4}, {19, 5}, {30, 6}}
	g.Expect(maxInWindow(adm, 10)).To(Equal(int64(9)))
	g.Expect(maxInWindow(adm, 11)).To(Equal(int64(12)))
	g.Expect(maxInWindow(nil, 10)).To(Equal(int64(0)))
}
