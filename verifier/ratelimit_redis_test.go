package verifier

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/scope"
	kwtestutil "github.com/keyward-dev/keyward/internal/testutil"
)

// replicas are verifiers over the same records with the same clock, as the
// replicas of one Deployment are.
type replicas struct {
	f  *fixture
	vs []*Verifier
}

func newReplicas(t *testing.T, n int, rl RateLimits, k *issued) *replicas {
	t.Helper()
	r := &replicas{f: newFixture(t, Options{RateLimits: rl})}
	r.f.publish(k)
	r.vs = append(r.vs, r.f.v)
	b, err := record.Encode(k.rec)
	if err != nil {
		t.Fatal(err)
	}
	for range n - 1 {
		ix := NewIndex()
		if err := ix.Put(record.SecretName(k.rec.KeyID), b); err != nil {
			t.Fatal(err)
		}
		v, err := New(ix, Options{Clock: r.f.clock, RateLimits: rl})
		if err != nil {
			t.Fatal(err)
		}
		r.vs = append(r.vs, v)
	}
	t.Cleanup(func() {
		for _, v := range r.vs {
			_ = v.Close()
		}
	})
	return r
}

func (r *replicas) decide(i int, k *issued) Decision {
	res, act := resourceOf(scope.MustParse(inScope))
	return r.vs[i].Decide(context.Background(), Request{Credential: k.key.Plaintext(), Resource: res, Action: act})
}

func redisLimits(addr string, fallback ratelimit.FallbackPolicy) RateLimits {
	return RateLimits{Store: "redis", Redis: &RedisConfig{Address: addr, Fallback: fallback, TimeoutMilliseconds: 500}}
}

func TestTwoReplicasSharingRedisEnforceOneLimit(t *testing.T) {
	g := NewWithT(t)
	srv := kwtestutil.StartRedisServer(t)
	f := newFixture(t, Options{})
	const limit, windows = 200, 20
	k := withLimits(f.issue("acme/payments/investigations:read"), record.RateLimit{
		Limits: []record.Limit{{Name: "per-minute", Strategy: ratelimit.SlidingWindow, Limit: limit, PeriodSeconds: 60}},
	})
	r := newReplicas(t, 2, redisLimits(srv.Addr(), ratelimit.Deny), k)

	// Twice the limit per window, from both replicas at once.
	var permitted, other atomic.Int64
	for range windows {
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				for range limit {
					switch d := r.decide(i, k); {
					case d.Result == Permit:
						permitted.Add(1)
					case d.Reason != ReasonRateLimited:
						other.Add(1)
					}
				}
			})
		}
		wg.Wait()
		r.f.clock.Step(62 * time.Second) // the period and one slot: every cost forgotten
	}
	g.Expect(other.Load()).To(BeZero(), "every refusal is rate_limited")
	g.Expect(permitted.Load()).To(BeNumerically("~", limit*windows, limit*windows/20), "one combined limit, within 5 %%")
	t.Logf("two replicas, %d windows of %d: permitted %d of %d offered", windows, limit, permitted.Load(), 2*limit*windows)
}

func TestRedisOutageFallsBackAsConfigured(t *testing.T) {
	for _, policy := range []ratelimit.FallbackPolicy{ratelimit.FailOpenLocal, ratelimit.Deny} {
		t.Run(string(policy), func(t *testing.T) {
			g := NewWithT(t)
			srv := kwtestutil.StartRedisServer(t)
			f := newFixture(t, Options{})
			k := withLimits(f.issue("acme/payments/investigations:read"), record.RateLimit{
				Limits: []record.Limit{{Name: "per-minute", Strategy: ratelimit.FixedWindow, Limit: 10, PeriodSeconds: 60}},
			})
			reg := prometheus.NewRegistry()
			r := &replicas{f: newFixture(t, Options{RateLimits: redisLimits(srv.Addr(), policy), Metrics: NewMetrics(reg)})}
			r.f.publish(k)
			r.vs = []*Verifier{r.f.v}
			t.Cleanup(func() { _ = r.f.v.Close() })
			health := r.f.v.HealthHandler()
			readyz := func() string {
				w := httptest.NewRecorder()
				health.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
				g.Expect(w.Code).To(Equal(200), "an outage of the shared store does not make the replica unready")
				return w.Body.String()
			}

			for range 4 {
				g.Expect(r.decide(0, k).Result).To(Equal(Permit))
			}
			g.Expect(readyz()).To(Equal("ok\n"))
			srv.Stop()

			d := r.decide(0, k)
			switch policy {
			case ratelimit.FailOpenLocal:
				// The local store starts empty: this replica alone allows the
				// whole limit again, and no more.
				permitted := 1
				g.Expect(d.Result).To(Equal(Permit))
				for r.decide(0, k).Result == Permit {
					permitted++
				}
				g.Expect(permitted).To(Equal(10))
			case ratelimit.Deny:
				g.Expect(d.Result).To(Equal(Indeterminate))
				g.Expect(d.Reason).To(Equal(ReasonRateLimitUnavailable))
			}
			g.Expect(readyz()).To(ContainSubstring("rate limits: Redis unavailable since"))
			g.Expect(readyz()).To(ContainSubstring("deciding by " + string(policy)))
			g.Expect(metricValue(g, reg, "keyward_verifier_ratelimit_degraded")).To(Equal(1.0))
			g.Expect(metricValue(g, reg, "keyward_verifier_ratelimit_fallbacks_total")).To(BeNumerically(">=", 1))

			srv.Start()
			// The store tries Redis again at most once a second of the
			// verifier's clock; a pooled connection broken by the outage
			// may fail the first try.
			g.Eventually(func() Result {
				r.f.clock.Step(2 * time.Second)
				return r.decide(0, k).Result
			}).Should(Equal(Permit), "Redis counted 4 of 10 before the outage")
			g.Expect(readyz()).To(Equal("ok\n"))
			g.Expect(metricValue(g, reg, "keyward_verifier_ratelimit_degraded")).To(Equal(0.0))
		})
	}
}

// metricValue reads a gauge or counter without labels.
func metricValue(g Gomega, reg *prometheus.Registry, name string) float64 {
	families, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetGauge() != nil {
			return m.GetGauge().GetValue()
		}
		return m.GetCounter().GetValue()
	}
	g.Expect(name).To(BeEmpty(), "metric not registered")
	return 0
}

// TestRedisOutageQuotas: while Redis is down a key's quota is refused by
// default and, with quotaFallback LocalShare, spent only up to each
// replica's share of what Redis last told it was left.
func TestRedisOutageQuotas(t *testing.T) {
	for _, tc := range []struct {
		name      string
		quotas    ratelimit.QuotaFallback
		permitted int
	}{{"the default", "", 0}, {"LocalShare", ratelimit.QuotaLocalShare, 3 + 3}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			srv := kwtestutil.StartRedisServer(t)
			f := newFixture(t, Options{})
			k := withLimits(f.issue("acme/payments/investigations:read"), record.RateLimit{
				Quota: &record.Quota{Credits: 20, Refill: ratelimit.Daily},
			})
			rl := redisLimits(srv.Addr(), ratelimit.FailOpenLocal)
			rl.Redis.QuotaFallback, rl.Redis.Replicas = tc.quotas, 2
			r := newReplicas(t, 2, rl, k)
			for i := range 14 {
				g.Expect(r.decide(i%2, k).Result).To(Equal(Permit))
			}
			// Both replicas last heard 7 and 6 credits left.

			srv.Stop()
			permitted := 0
			for i := range 40 {
				d := r.decide(i%2, k)
				switch {
				case d.Result == Permit:
					permitted++
				case tc.quotas == "":
					g.Expect(d.Result).To(Equal(Indeterminate))
					g.Expect(d.Reason).To(Equal(ReasonRateLimitUnavailable))
					g.Expect(d.Message).To(ContainSubstring("quota cannot be checked"))
				default:
					g.Expect(d.Reason).To(Equal(ReasonQuotaExhausted))
				}
			}
			g.Expect(permitted).To(Equal(tc.permitted))
		})
	}
}
