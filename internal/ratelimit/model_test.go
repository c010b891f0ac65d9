package ratelimit

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// modelStore is TakeAll written directly on Take, without a cap: the
// answers every Store must give.
type modelStore struct {
	states map[modelKey]State
}

// modelKey is what tells buckets apart: the key and the fields that give
// a state its meaning, not the amounts.
type modelKey struct {
	key, name string
	strategy  Strategy
	period    time.Duration
	refill    Refill
	zone      string
}

func keyOf(r Request) modelKey {
	k := modelKey{key: r.Key, name: r.Limit.Name, strategy: r.Limit.Strategy, period: r.Limit.Period}
	if r.Limit.Strategy == Quota {
		k.refill = r.Limit.Refill
		k.zone = "UTC"
		if r.Limit.Location != nil {
			k.zone = r.Limit.Location.String()
		}
	}
	return k
}

func newModelStore() *modelStore { return &modelStore{states: map[modelKey]State{}} }

func (m *modelStore) TakeAll(_ context.Context, now time.Time, reqs []Request) ([]Result, error) {
	res := make([]Result, len(reqs))
	cum := map[modelKey]int64{}
	fits := true
	for i, r := range reqs {
		if r.Key == "" {
			return nil, ErrInvalidRequest
		}
		k := keyOf(r)
		cum[k] += r.Cost
		var err error
		if _, res[i], err = Take(r.Limit, m.states[k], now, cum[k]); err != nil {
			return nil, err
		}
		fits = fits && res[i].Allowed
	}
	if !fits {
		// Nothing is spent: those that fit are described as they stand.
		for i, r := range reqs {
			if res[i].Allowed {
				_, res[i], _ = Take(r.Limit, m.states[keyOf(r)], now, 0)
			}
		}
		return res, nil
	}
	done := map[modelKey]bool{}
	for _, r := range reqs {
		if k := keyOf(r); !done[k] {
			done[k] = true
			m.states[k], _, _ = Take(r.Limit, m.states[k], now, cum[k])
		}
	}
	for i, r := range reqs {
		_, res[i], _ = Take(r.Limit, m.states[keyOf(r)], now, 0)
	}
	return res, nil
}

func TestModelStoreCases(t *testing.T) {
	runStoreCases(t, func(*testing.T) Store { return newModelStore() })
}

// agreementLimits are the limits of runStoreAgreement, several per key
// as a verifier would apply them.
var agreementLimits = []Limit{
	{Name: "per-second", Strategy: FixedWindow, Limit: 5, Period: time.Second},
	{Name: "per-minute", Strategy: SlidingWindow, Limit: 40, Period: time.Minute},
	{Name: "burst", Strategy: TokenBucket, Limit: 3, Period: time.Second, Burst: 8},
	{Name: "daily", Strategy: Quota, Limit: 500, Refill: Daily, Location: mustZone("Europe/Berlin")},
	{Name: "monthly", Strategy: Quota, Limit: 3000, Refill: Monthly},
}

// runStoreAgreement plays random calls of one to four requests (random
// keys, limits, costs, repeated buckets, clock steps from nothing to
// hours) against a store and the model, and wants the same answers. A
// call the store refuses with ErrFull is skipped on both sides: it spent
// nothing. It returns how many calls were compared.
func runStoreAgreement(t *testing.T, store Store, seed uint64, calls int) int {
	g := NewWithT(t)
	model := newModelStore()
	rng := rand.New(rand.NewPCG(seed, 11))
	keys := []string{"acme/a", "acme/b", "acme/c", "globex/a", "owner/acme"}
	now := t0
	compared := 0
	for call := range calls {
		switch rng.IntN(10) {
		case 0:
			now = now.Add(time.Duration(rng.Int64N(int64(6 * time.Hour))))
		case 1, 2:
			now = now.Add(time.Duration(rng.Int64N(int64(10 * time.Second))))
		default:
			now = now.Add(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
		}
		reqs := make([]Request, 1+rng.IntN(4))
		for i := range reqs {
			l := agreementLimits[rng.IntN(len(agreementLimits))]
			reqs[i] = Request{Key: keys[rng.IntN(len(keys))], Limit: l, Cost: rng.Int64N(min(4, l.Capacity()) + 1)}
		}
		got, err := store.TakeAll(context.Background(), now, reqs)
		if errors.Is(err, ErrFull) {
			continue
		}
		want, wantErr := model.TakeAll(context.Background(), now, reqs)
		if wantErr != nil {
			g.Expect(err).To(HaveOccurred(), "call %d: %v", call, reqs)
			continue
		}
		g.Expect(err).NotTo(HaveOccurred(), "call %d", call)
		g.Expect(got).To(Equal(want), "call %d at %s: %v", call, now, reqs)
		compared++
	}
	return compared
}

func TestModelStoreAllOrNothing(t *testing.T) {
	g := NewWithT(t)
	m := newModelStore()
	perSecond := Limit{Name: "s", Strategy: FixedWindow, Limit: 10, Period: time.Second}
	perDay := Limit{Name: "d", Strategy: Quota, Limit: 1, Refill: Daily}
	reqs := []Request{{Key: "k", Limit: perSecond, Cost: 1}, {Key: "k", Limit: perDay, Cost: 1}}
	res, err := m.TakeAll(context.Background(), t0, reqs)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res[0].Allowed && res[1].Allowed).To(BeTrue())
	res, _ = m.TakeAll(context.Background(), t0, reqs)
	g.Expect(res[0].Allowed).To(BeTrue())
	g.Expect(res[0].Remaining).To(Equal(int64(9)))
	g.Expect(res[1].Allowed).To(BeFalse())
}
