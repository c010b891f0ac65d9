package verifier

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/scope"
	kwtestutil "github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/internal/usage"
)

// Two replicas flushing into one Redis: each minute's hash holds the sum of
// their counts, each count added once however often they flush.
func TestTwoReplicasFlushActivityIntoRedis(t *testing.T) {
	g := NewWithT(t)
	srv := kwtestutil.StartRedisServer(t)
	o := Options{RateLimits: redisLimits(srv.Addr(), ratelimit.FailOpenLocal), Analytics: AnalyticsConfig{Aggregation: AggregationRedis}}
	f := newFixture(t, o)
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	b, err := record.Encode(k.rec)
	g.Expect(err).NotTo(HaveOccurred())
	ix := NewIndex()
	g.Expect(ix.Put(record.SecretName(k.rec.KeyID), b)).To(Succeed())
	o.Clock = f.clock
	other, err := New(ix, o)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = f.v.Close(); _ = other.Close() })
	g.Expect(f.v.ActivityAggregation()).To(Equal(AggregationRedis))

	ctx := context.Background()
	flushes := []*activityFlush{newActivityFlush(f.v, logr.Discard()), newActivityFlush(other, logr.Discard())}
	res, act := resourceOf(scope.MustParse(inScope))
	send := func(v *Verifier, n int, address, country string) {
		for range n {
			d := v.Decide(ctx, Request{Credential: k.key.Plaintext(), Resource: res, Action: act,
				Env: access.Environment{Address: addr(address), Country: country}})
			g.Expect(d.Result).To(Equal(Permit))
		}
	}
	send(f.v, 3, "192.0.2.1", "DE")
	send(other, 2, "198.51.100.1", "JP")
	for _, fl := range flushes {
		fl.flush(ctx)
	}
	send(f.v, 4, "192.0.2.1", "DE")
	for range 2 {
		for _, fl := range flushes {
			fl.flush(ctx)
		}
	}
	f.clock.Step(time.Minute)
	send(other, 1, "198.51.100.1", "JP")
	for _, fl := range flushes {
		fl.flush(ctx)
	}

	client := srv.Client()
	first, err := usage.ReadActivity(ctx, client, ratelimit.DefaultRedisPrefix, t0)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(first).To(Equal(map[string]analytics.Minute{k.key.ID(): {
		Start: t0, Permits: 9,
		Countries: []analytics.Count{{Value: "DE", N: 7}, {Value: "JP", N: 2}},
		Networks:  []analytics.Count{{Value: "192.0.2.0/24", N: 7}, {Value: "198.51.100.0/24", N: 2}},
	}}))
	second, err := usage.ReadActivity(ctx, client, ratelimit.DefaultRedisPrefix, t0.Add(time.Minute))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(second[k.key.ID()].Permits).To(BeEquivalentTo(1))
}

func TestMinuteDeltaCountsOnlyWhatIsNew(t *testing.T) {
	g := NewWithT(t)
	added := analytics.Minute{Start: t0, Permits: 5, Denials: map[string]uint32{"rate_limited": 1},
		Countries: []analytics.Count{{Value: "DE", N: 5}, {Value: "FR", N: 1}}}
	cur := analytics.Minute{Start: t0, Permits: 8, UnverifiedDenials: 2, Denials: map[string]uint32{"rate_limited": 1, "invalid_secret": 2},
		Countries: []analytics.Count{{Value: "DE", N: 7}, {Value: "JP", N: 2}}}
	d, ok := minuteDelta(cur, added)
	g.Expect(ok).To(BeTrue())
	g.Expect(d).To(Equal(analytics.Minute{Start: t0, Permits: 3, UnverifiedDenials: 2, Denials: map[string]uint32{"invalid_secret": 2},
		Countries: []analytics.Count{{Value: "DE", N: 2}, {Value: "JP", N: 2}}}))
	_, ok = minuteDelta(cur, cur)
	g.Expect(ok).To(BeFalse(), "nothing new")
}
