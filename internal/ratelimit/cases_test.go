package ratelimit

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// t0 is aligned to every window the tables use, so that their numbers
// read as offsets into a window.
var t0 = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// step is one request on one bucket and the Result it must get.
type step struct {
	at        time.Duration // after t0
	cost      int64
	allowed   bool
	remaining int64
	reset     time.Duration
	retry     time.Duration
}

type takeCase struct {
	limit Limit
	steps []step
}

// takeCases are the rules of each strategy as sequences on one bucket.
// Every Store must produce exactly these results (runStoreCases), and so
// must Take.
var takeCases = map[string]takeCase{
	"fixed window": {
		Limit{Name: "per-second", Strategy: FixedWindow, Limit: 3, Period: time.Second},
		[]step{
			{0, 1, true, 2, time.Second, 0},
			{100 * time.Millisecond, 2, true, 0, 900 * time.Millisecond, 0},
			{200 * time.Millisecond, 1, false, 0, 800 * time.Millisecond, 800 * time.Millisecond},
			{999 * time.Millisecond, 0, true, 0, time.Millisecond, 0},
			// A new window: everything is back, even right at the edge.
			{time.Second, 3, true, 0, time.Second, 0},
			{2500 * time.Millisecond, 1, true, 2, 500 * time.Millisecond, 0},
			{2600 * time.Millisecond, 3, false, 2, 400 * time.Millisecond, 400 * time.Millisecond},
		},
	},
	"fixed window, unused bucket resets nothing": {
		Limit{Name: "per-minute", Strategy: FixedWindow, Limit: 10, Period: time.Minute},
		[]step{
			{30 * time.Second, 0, true, 10, 0, 0},
			{45 * time.Second, 10, true, 0, 15 * time.Second, 0},
			{59 * time.Second, 1, false, 0, time.Second, time.Second},
		},
	},
	// Period 3.1 s: 31 slots of 100 ms.
	"sliding window": {
		Limit{Name: "sliding", Strategy: SlidingWindow, Limit: 4, Period: 3100 * time.Millisecond},
		[]step{
			{0, 4, true, 0, 3200 * time.Millisecond, 0},
			// The true window (0, 3.1 s] no longer holds the first
			// requests, but their slot is still counted whole.
			{3100 * time.Millisecond, 1, false, 0, 100 * time.Millisecond, 100 * time.Millisecond},
			{3200 * time.Millisecond, 2, true, 2, 3200 * time.Millisecond, 0},
			{3250 * time.Millisecond, 3, false, 2, 3150 * time.Millisecond, 3150 * time.Millisecond},
			{3300 * time.Millisecond, 1, true, 1, 3200 * time.Millisecond, 0},
			// Needs both slots gone: the second, [3.3 s, 3.4 s), leaves
			// at 3.4 + 3.1 s.
			{3400 * time.Millisecond, 4, false, 1, 3100 * time.Millisecond, 3100 * time.Millisecond},
			{6500 * time.Millisecond, 4, true, 0, 3200 * time.Millisecond, 0},
		},
	},
	"token bucket": {
		Limit{Name: "tokens", Strategy: TokenBucket, Limit: 2, Period: time.Second, Burst: 4},
		[]step{
			{0, 4, true, 0, 2 * time.Second, 0},
			{0, 1, false, 0, 2 * time.Second, 500 * time.Millisecond},
			{250 * time.Millisecond, 0, true, 0, 1750 * time.Millisecond, 0},
			{500 * time.Millisecond, 1, true, 0, 2 * time.Second, 0},
			{1 * time.Second, 2, false, 1, 1500 * time.Millisecond, 500 * time.Millisecond},
			{3 * time.Second, 1, true, 3, 500 * time.Millisecond, 0},
			{10 * time.Second, 0, true, 4, 0, 0},
		},
	},
	"token bucket, burst defaults to limit, thirds of a second": {
		Limit{Name: "thirds", Strategy: TokenBucket, Limit: 3, Period: time.Second},
		[]step{
			{0, 3, true, 0, time.Second, 0},
			{333333333, 1, false, 0, 666666667, 1},
			// 2 ns into the next token: the bucket is full again in
			// ceil(1 s − 2/3 ns).
			{333333334, 1, true, 0, time.Second, 0},
			// Exactly two more tokens have come in, with no fraction lost.
			{time.Second, 1, true, 1, 666666667, 0},
		},
	},
	"quota": {
		Limit{Name: "daily", Strategy: Quota, Limit: 5, Refill: Daily},
		[]step{
			{23 * time.Hour, 5, true, 0, time.Hour, 0},
			{23*time.Hour + 30*time.Minute, 1, false, 0, 30 * time.Minute, 30 * time.Minute},
			{24 * time.Hour, 1, true, 4, 24 * time.Hour, 0},
			{48*time.Hour - 1, 4, true, 0, 1, 0},
		},
	},
}

func TestTakeCases(t *testing.T) {
	for name, tc := range takeCases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			var s State
			for i, st := range tc.steps {
				next, res, err := Take(tc.limit, s, t0.Add(st.at), st.cost)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(res).To(Equal(st.want(tc.limit)), "step %d", i)
				if !res.Allowed {
					// A refused take spends nothing: taking nothing
					// from either state says the same.
					_, a, _ := Take(tc.limit, s, t0.Add(st.at), 0)
					_, b, _ := Take(tc.limit, next, t0.Add(st.at), 0)
					g.Expect(b).To(Equal(a), "step %d", i)
				}
				s = next
			}
		})
	}
}

func (st step) want(l Limit) Result {
	return Result{Limit: l, Allowed: st.allowed, Remaining: st.remaining, Reset: st.reset, RetryAfter: st.retry}
}

// runStoreCases plays takeCases against stores from newStore, one store
// per case, so that every Store is held to the same rules as Take.
func runStoreCases(t *testing.T, newStore func(t *testing.T) Store) {
	for name, tc := range takeCases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			store := newStore(t)
			for i, st := range tc.steps {
				res, err := store.TakeAll(context.Background(), t0.Add(st.at), []Request{{Key: "acme/k1", Limit: tc.limit, Cost: st.cost}})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(res).To(Equal([]Result{st.want(tc.limit)}), "step %d", i)
			}
		})
	}
}

func TestTakeRefusesBadInput(t *testing.T) {
	ok := Limit{Name: "l", Strategy: FixedWindow, Limit: 3, Period: time.Second}
	cases := map[string]struct {
		limit Limit
		now   time.Time
		cost  int64
		want  error
	}{
		"invalid limit":       {Limit{Name: "l", Strategy: FixedWindow}, t0, 1, &LimitError{}},
		"negative cost":       {ok, t0, -1, ErrInvalidRequest},
		"cost over capacity":  {ok, t0, 4, ErrCostExceedsCapacity},
		"over burst":          {Limit{Name: "l", Strategy: TokenBucket, Limit: 10, Period: time.Second, Burst: 2}, t0, 3, ErrCostExceedsCapacity},
		"zero time":           {ok, time.Time{}, 1, ErrInvalidRequest},
		"before 1970":         {ok, time.Unix(-1, 0), 1, ErrInvalidRequest},
		"after 2199":          {ok, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), 1, ErrInvalidRequest},
		"cost at capacity ok": {ok, t0, 3, nil},
		"epoch ok":            {ok, time.Unix(0, 0), 3, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, _, err := Take(tc.limit, State{}, tc.now, tc.cost)
			switch want := tc.want.(type) {
			case nil:
				g.Expect(err).NotTo(HaveOccurred())
			case *LimitError:
				g.Expect(err).To(BeAssignableToTypeOf(want))
			default:
				g.Expect(err).To(MatchError(want))
			}
		})
	}
}
