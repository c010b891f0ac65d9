package usageanalytics

import (
	"context"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/verifier"
)

func TestStatusUsageIsTheTrafficOfBothReplicasEmbedded(t *testing.T) {
	expectUsageOfTraffic(t, embedded)
}

// The Redis aggregation: status.usage is the traffic sent, and a policy's
// response comes as fast as through the activity reports.
func TestTheRedisAggregation(t *testing.T) {
	srv := testutil.StartRedisServer(t)
	env, err := testutil.StartEnv(testutil.EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Stop)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := startStack(ctx, NewWithT(t), env, stackOptions{geoIPPath: geoIPPath, redis: srv.Client(), redisAddress: srv.Addr()})
	t.Run("status.usage", func(t *testing.T) { expectUsageOfTraffic(t, s) })
	t.Run("response", func(t *testing.T) { expectPolicyResponse(t, NewWithT(t), s) })
}

// expectUsageOfTraffic sends one key's traffic split over the two replicas,
// in two hours, from three countries (placed by the GeoIP database alone)
// and with denials of both kinds, and expects status.usage to say exactly
// that; a key without traffic gets no status.usage at all.
//
// Each hour of the manager's history keeps its two busiest countries and
// networks (a space-saving sketch, so that a key's history stays small):
// a third country within one hour would be counted into the smaller of
// the two. Two per hour are exact, and the day sums the hours.
func expectUsageOfTraffic(t *testing.T, s *stack) {
	g := NewWithT(t)
	ns := s.namespace(t, g, nil)
	plain, id := s.liveKey(t, g, ns, "split")
	s.liveKey(t, g, ns, "idle")

	first := s.nextMinute(g)
	s.sendN(g, 0, 5, plain, http.MethodGet, home, verifier.ReasonAllowed)
	s.sendN(g, 0, 3, plain, http.MethodPost, home, verifier.ReasonInsufficientScope)
	s.sendN(g, 1, 4, plain, http.MethodGet, france, verifier.ReasonAllowed)
	// A wrong secret names the key but is not its use: no country.
	s.sendN(g, 1, 2, wrongSecret(g, id), http.MethodGet, stranger(), verifier.ReasonInvalidSecret)
	s.closeMinute(g, first, map[string]uint64{id: 14})

	// Past the last hour of the first minute, in another clock hour.
	second := first.Add(90 * time.Minute)
	s.stepTo(g, second.Add(time.Second))
	s.sendN(g, 0, 1, plain, http.MethodGet, home, verifier.ReasonAllowed)
	s.sendN(g, 1, 2, plain, http.MethodGet, newZealand, verifier.ReasonAllowed)
	s.closeMinute(g, second, map[string]uint64{id: 3})

	want := keywardv1.UsageStatus{
		LastUsedTime: &metav1.Time{Time: second},
		LastHour:     &keywardv1.UsageWindow{Requests: 3, ErrorRate: "0.0%"},
		LastDay: &keywardv1.UsageWindow{
			Requests: 17, Denials: 5, ErrorRate: "29.4%",
			TopDenials: []keywardv1.DenialCount{{Reason: "insufficient_scope", Count: 3}, {Reason: "invalid_secret", Count: 2}},
		},
		TopCountries: []keywardv1.CountryCount{{Country: "DE", Requests: 9}, {Country: "FR", Requests: 4}, {Country: "NZ", Requests: 2}},
		TopNetworks: []keywardv1.NetworkCount{
			{Network: "192.0.2.0/24", Requests: 9}, {Network: "198.51.100.0/24", Requests: 4}, {Network: "203.0.113.0/24", Requests: 2},
		},
	}
	g.Eventually(func(g Gomega) {
		u := s.apiKey(g, ns, "split").Status.Usage
		g.Expect(u).NotTo(BeNil())
		g.Expect(u.LastUsedTime).NotTo(BeNil())
		g.Expect(u.LastUsedTime.Time).To(BeTemporally("==", second))
		got := *u
		got.LastUsedTime = want.LastUsedTime
		g.Expect(got).To(Equal(want))
	}).WithTimeout(waitFor).Should(Succeed())
	g.Expect(s.apiKey(g, ns, "idle").Status.Usage).To(BeNil())
	g.Expect(s.findings.of(id)).To(BeEmpty())
	u := s.apiKey(g, ns, "split").Status.Usage
	t.Logf("status.usage after 17 requests over two replicas: last used %s, hour %+v, day %+v, countries %+v, networks %+v",
		u.LastUsedTime.UTC().Format(time.RFC3339), *u.LastHour, *u.LastDay, u.TopCountries, u.TopNetworks)
}
