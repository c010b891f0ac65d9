package usage

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/redis/go-redis/v9"

	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/testutil"
)

const activityPrefix = "keyward:rl:"

// Two replicas writing one minute sum; each key's countries and networks
// keep the busiest of the sums.
func TestRedisActivitySumsReplicas(t *testing.T) {
	g := NewWithT(t)
	client := testutil.StartRedisServer(t).Client()
	ctx := context.Background()
	minute := time.Date(2026, 12, 6, 10, 42, 0, 0, time.UTC)
	replicaA := map[string][]analytics.Minute{
		idA: {{Start: minute, Permits: 10, VerifiedDenials: 2, Denials: map[string]uint32{"insufficient_scope": 2},
			Countries: []analytics.Count{{Value: "DE", N: 8}, {Value: "FR", N: 4}},
			Networks:  []analytics.Count{{Value: "192.0.2.0/24", N: 12}}}},
		idB: {{Start: minute, UnverifiedDenials: 5, Denials: map[string]uint32{"invalid_secret": 5}}},
	}
	replicaB := map[string][]analytics.Minute{
		idA: {{Start: minute, Permits: 7, Denials: map[string]uint32{"rate_limited": 1}, VerifiedDenials: 1,
			Countries: []analytics.Count{{Value: "DE", N: 3}, {Value: "US", N: 2}, {Value: "JP", N: 1}, {Value: "BR", N: 1}},
			Networks:  []analytics.Count{{Value: "2001:db8:1::/48", N: 8}}}},
	}
	g.Expect(WriteActivity(ctx, client, activityPrefix, "verifier-a", replicaA)).To(Succeed())
	g.Expect(WriteActivity(ctx, client, activityPrefix, "verifier-b", replicaB)).To(Succeed())
	// Written again, as a flush that timed out is: nothing counts twice.
	g.Expect(WriteActivity(ctx, client, activityPrefix, "verifier-a", replicaA)).To(Succeed())

	got, err := ReadActivity(ctx, client, activityPrefix, minute)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(HaveLen(2))
	a := got[idA]
	g.Expect(a.Start).To(Equal(minute))
	g.Expect(a.Permits).To(BeEquivalentTo(17))
	g.Expect(a.VerifiedDenials).To(BeEquivalentTo(3))
	g.Expect(a.Denials).To(Equal(map[string]uint32{"insufficient_scope": 2, "rate_limited": 1}))
	g.Expect(a.Countries).To(Equal([]analytics.Count{{Value: "DE", N: 11}, {Value: "FR", N: 4}, {Value: "US", N: 2}, {Value: "BR", N: 1}}), "the busiest four, ties by name")
	g.Expect(a.Networks).To(Equal([]analytics.Count{{Value: "192.0.2.0/24", N: 12}, {Value: "2001:db8:1::/48", N: 8}}))
	g.Expect(a.Validate()).To(Succeed())
	b := got[idB]
	g.Expect(b.UnverifiedDenials).To(BeEquivalentTo(5))
	g.Expect(b.Permits).To(BeZero())
	g.Expect(b.Countries).To(BeEmpty())

	ttl, err := client.TTL(ctx, ActivityKey(activityPrefix, minute)).Result()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ttl).To(And(BeNumerically(">", ActivityRetention-time.Minute), BeNumerically("<=", ActivityRetention)))

	empty, err := ReadActivity(ctx, client, activityPrefix, minute.Add(time.Minute))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(empty).To(BeEmpty(), "a minute nobody wrote")
}

// Whatever else writes into a minute's hash is skipped and counted, never
// trusted: a bad count, key ID, country, network or kind.
func TestRedisActivitySkipsMalformedFields(t *testing.T) {
	g := NewWithT(t)
	client := testutil.StartRedisServer(t).Client()
	ctx := context.Background()
	minute := time.Date(2026, 12, 6, 10, 43, 0, 0, time.UTC)
	h := ActivityKey(activityPrefix, minute)
	g.Expect(client.HSet(ctx, h,
		idA+"|r1|p", "3",
		idA+"|r1|c|DE", "3",
		idA+"|r1|c|de", "1", // not upper case
		idA+"|r1|n|192.0.2.7/32", "1", // not a counted network
		idA+"|r1|p|x", "1", // a counter with an argument
		idA+"|r1|zz", "1", // no such kind
		idA+"|r1|vd", "-4", // negative
		idA+"|r1|ud", "lots", // not a number
		idA+"|R1|p", "1", // not a DNS label
		idA+"|"+strings.Repeat("r", 64)+"|p", "1", // too long for one
		idA+"|p", "1", // no replica
		"NOT-A-KEY|r1|p", "9",
		idB+"|r1", "1", // no kind
	).Err()).To(Succeed())

	got, err := ReadActivityCounted(ctx, client, activityPrefix, minute)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.Skipped).To(Equal(11))
	g.Expect(got.Keys).To(Equal(map[string]analytics.Minute{
		idA: {Start: minute, Permits: 3, Countries: []analytics.Count{{Value: "DE", N: 3}}},
	}))
}

// A minute no verifier counts, or a replica name no field can carry, is
// refused before anything is written.
func TestWriteActivityRefusesInvalidMinutes(t *testing.T) {
	g := NewWithT(t)
	client := testutil.StartRedisServer(t).Client()
	ctx := context.Background()
	minute := time.Date(2026, 12, 6, 10, 44, 0, 0, time.UTC)
	good := map[string][]analytics.Minute{idA: {{Start: minute, Permits: 1}}}
	err := WriteActivity(ctx, client, activityPrefix, "verifier-a", map[string][]analytics.Minute{
		idA: {{Start: minute, Permits: 1}},
		idB: {{Start: minute, Permits: 1, Countries: []analytics.Count{{Value: "Germany", N: 1}}}},
	})
	g.Expect(err).To(MatchError(ContainSubstring(`"Germany" is not an ISO 3166-1 alpha-2 code`)))
	for _, replica := range []string{"", "Verifier-A", "verifier|a", strings.Repeat("v", 64)} {
		g.Expect(WriteActivity(ctx, client, activityPrefix, replica, good)).To(MatchError(ContainSubstring("replica name")), replica)
	}
	n, err := client.Exists(ctx, ActivityKey(activityPrefix, minute)).Result()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeZero())
}

// A flush whose round trip times out may still land, whole or in part:
// the next flush writes the same counts again, and the minute counts them
// once.
func TestTimedOutWriteCountsOnce(t *testing.T) {
	g := NewWithT(t)
	srv := testutil.StartRedisServer(t)
	ctx := context.Background()
	short := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialTimeout: time.Second, ReadTimeout: time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = short.Close() })
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	minutes := generatedKeys(g, 20000, analytics.Minute{Start: at, Permits: 10,
		Countries: []analytics.Count{{Value: "DE", N: 10}}, Networks: []analytics.Count{{Value: "192.0.2.0/24", N: 10}}})
	g.Expect(WriteActivity(ctx, short, activityPrefix, "verifier-a", minutes)).NotTo(Succeed(), "the round trip timed out")
	g.Expect(WriteActivity(ctx, srv.Client(), activityPrefix, "verifier-a", minutes)).To(Succeed())
	got, err := ReadActivity(ctx, srv.Client(), activityPrefix, at)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(HaveLen(len(minutes)))
	for _, m := range got {
		g.Expect(m.Permits).To(BeEquivalentTo(10))
		g.Expect(m.Countries).To(Equal([]analytics.Count{{Value: "DE", N: 10}}))
	}
}

// What a minute costs Redis per key and replica, kept ActivityRetention:
// a key used from one place, and a key named only by wrong secrets.
func TestActivityRedisMemory(t *testing.T) {
	g := NewWithT(t)
	client := testutil.StartRedisServer(t).Client()
	ctx := context.Background()
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	const n = 10000
	used := generatedKeys(g, n, analytics.Minute{Start: at, Permits: 10,
		Countries: []analytics.Count{{Value: "DE", N: 10}}, Networks: []analytics.Count{{Value: "192.0.2.0/24", N: 10}}})
	wrong := map[string][]analytics.Minute{}
	for id := range used {
		wrong[id] = []analytics.Minute{{Start: at.Add(time.Minute), UnverifiedDenials: 1, Denials: map[string]uint32{"invalid_secret": 1}}}
	}
	g.Expect(WriteActivity(ctx, client, activityPrefix, "keyward-verifier-7d9f8b6c5d-x2k4q", used)).To(Succeed())
	g.Expect(WriteActivity(ctx, client, activityPrefix, "keyward-verifier-7d9f8b6c5d-x2k4q", wrong)).To(Succeed())
	perKey := func(minute time.Time) float64 {
		b, err := client.MemoryUsage(ctx, ActivityKey(activityPrefix, minute), 0).Result()
		g.Expect(err).NotTo(HaveOccurred())
		return float64(b) / n
	}
	usedB, wrongB := perKey(at), perKey(at.Add(time.Minute))
	minutes := ActivityRetention.Minutes()
	t.Logf("per key, replica and minute: used %.0f B, wrong secrets only %.0f B; kept %.0f minutes, 10,000 keys on 3 replicas: %.0f MiB used, %.0f MiB of wrong secrets",
		usedB, wrongB, minutes, usedB*minutes*3*n/(1<<20), wrongB*minutes*3*n/(1<<20))
	g.Expect(usedB).To(BeNumerically("<", 400))
	g.Expect(wrongB).To(BeNumerically("<", 300))
}

func generatedKeys(g *WithT, n int, m analytics.Minute) map[string][]analytics.Minute {
	out := make(map[string][]analytics.Minute, n)
	for range n {
		k, err := keys.Generate("")
		g.Expect(err).NotTo(HaveOccurred())
		out[k.ID()] = []analytics.Minute{m}
	}
	return out
}
