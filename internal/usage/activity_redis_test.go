package usage

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/testutil"
)

const activityPrefix = "keyward:rl:"

// Two replicas adding to one minute sum; each key's countries and networks
// keep the busiest of the sums.
func TestRedisActivitySumsReplicas(t *testing.T) {
	g := NewWithT(t)
	client := testutil.StartRedisServer(t).Client()
	ctx := context.Background()
	minute := time.Date(2026, 12, 6, 10, 42, 0, 0, time.UTC)
	replicaA := map[string]analytics.Minute{
		idA: {Start: minute, Permits: 10, VerifiedDenials: 2, Denials: map[string]uint32{"insufficient_scope": 2},
			Countries: []analytics.Count{{Value: "DE", N: 8}, {Value: "FR", N: 4}},
			Networks:  []analytics.Count{{Value: "192.0.2.0/24", N: 12}}},
		idB: {Start: minute, UnverifiedDenials: 5, Denials: map[string]uint32{"invalid_secret": 5}},
	}
	replicaB := map[string]analytics.Minute{
		idA: {Start: minute, Permits: 7, Denials: map[string]uint32{"rate_limited": 1}, VerifiedDenials: 1,
			Countries: []analytics.Count{{Value: "DE", N: 3}, {Value: "US", N: 2}, {Value: "JP", N: 1}, {Value: "BR", N: 1}},
			Networks:  []analytics.Count{{Value: "2001:db8:1::/48", N: 8}}},
	}
	g.Expect(AddActivity(ctx, client, activityPrefix, replicaA)).To(Succeed())
	g.Expect(AddActivity(ctx, client, activityPrefix, replicaB)).To(Succeed())

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
		idA+"|p", "3",
		idA+"|c|DE", "3",
		idA+"|c|de", "1", // not upper case
		idA+"|n|192.0.2.7/32", "1", // not a counted network
		idA+"|p|x", "1", // a counter with an argument
		idA+"|zz", "1", // no such kind
		idA+"|vd", "-4", // negative
		idA+"|ud", "lots", // not a number
		"NOT-A-KEY|p", "9",
		idB, "1", // no kind
	).Err()).To(Succeed())

	got, err := ReadActivityCounted(ctx, client, activityPrefix, minute)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.Skipped).To(Equal(8))
	g.Expect(got.Keys).To(Equal(map[string]analytics.Minute{
		idA: {Start: minute, Permits: 3, Countries: []analytics.Count{{Value: "DE", N: 3}}},
	}))
}

// A delta no verifier counts is refused before anything is written.
func TestAddActivityRefusesInvalidDeltas(t *testing.T) {
	g := NewWithT(t)
	client := testutil.StartRedisServer(t).Client()
	ctx := context.Background()
	minute := time.Date(2026, 12, 6, 10, 44, 0, 0, time.UTC)
	err := AddActivity(ctx, client, activityPrefix, map[string]analytics.Minute{
		idA: {Start: minute, Permits: 1},
		idB: {Start: minute, Permits: 1, Countries: []analytics.Count{{Value: "Germany", N: 1}}},
	})
	g.Expect(err).To(MatchError(ContainSubstring(`"Germany" is not an ISO 3166-1 alpha-2 code`)))
	n, err := client.Exists(ctx, ActivityKey(activityPrefix, minute)).Result()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeZero())
}
