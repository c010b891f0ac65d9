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
	flushes := []*activityFlush{newFlush(g, f.v, "verifier-a"), newFlush(g, other, "Verifier-B")}
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

func newFlush(g *WithT, v *Verifier, replica string) *activityFlush {
	fl, err := newActivityFlush(v, replica, logr.Discard())
	g.Expect(err).NotTo(HaveOccurred())
	return fl
}

// A flush writes only the minutes that changed since the last one that
// succeeded, each whole; one that failed is written again by the next.
func TestFlushWritesChangedMinutesWhole(t *testing.T) {
	g := NewWithT(t)
	srv := kwtestutil.StartRedisServer(t)
	o := Options{RateLimits: redisLimits(srv.Addr(), ratelimit.FailOpenLocal), Analytics: AnalyticsConfig{Aggregation: AggregationRedis}}
	f := newFixture(t, o)
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	ctx := context.Background()
	fl := newFlush(g, f.v, "verifier-a")
	res, act := resourceOf(scope.MustParse(inScope))
	send := func(n int) {
		for range n {
			d := f.v.Decide(ctx, Request{Credential: k.key.Plaintext(), Resource: res, Action: act,
				Env: access.Environment{Address: addr("192.0.2.1"), Country: "DE"}})
			g.Expect(d.Result).To(Equal(Permit))
		}
	}
	client := srv.Client()
	h := usage.ActivityKey(ratelimit.DefaultRedisPrefix, t0)
	permits := func() string { return client.HGet(ctx, h, k.key.ID()+"|verifier-a|p").Val() }

	send(3)
	fl.flush(ctx)
	g.Expect(permits()).To(Equal("3"))
	// Nothing new: nothing written (the hash, removed behind its back,
	// stays away).
	g.Expect(client.Del(ctx, h).Err()).To(Succeed())
	fl.flush(ctx)
	g.Expect(client.Exists(ctx, h).Val()).To(BeZero())

	// One more request: the minute is written whole, not its increment.
	send(1)
	fl.flush(ctx)
	g.Expect(permits()).To(Equal("4"))

	// Redis away: the flush fails, and the next writes the minute again.
	srv.Stop()
	send(2)
	fl.flush(ctx)
	g.Expect(fl.failing).To(BeTrue())
	srv.Start()
	fl.flush(ctx)
	g.Expect(fl.failing).To(BeFalse())
	got, err := usage.ReadActivity(ctx, client, ratelimit.DefaultRedisPrefix, t0)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got[k.key.ID()].Permits).To(BeEquivalentTo(6), "the restarted Redis lost the earlier writes; the whole minute is back")
	g.Expect(got[k.key.ID()].Countries).To(Equal([]analytics.Count{{Value: "DE", N: 6}}))

	// Minutes out of the window leave nothing behind.
	f.clock.Step(time.Duration(usage.ActivityMinutes) * time.Minute)
	fl.flush(ctx)
	g.Expect(fl.written).To(BeEmpty())
}

func TestFlushRefusesAReplicaNameNoFieldCarries(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{RateLimits: redisLimits("127.0.0.1:1", ratelimit.FailOpenLocal), Analytics: AnalyticsConfig{Aggregation: AggregationRedis}})
	_, err := newActivityFlush(f.v, "verifier_a.example", logr.Discard())
	g.Expect(err).To(MatchError(ContainSubstring(`replica name "verifier_a.example"`)))
}
