package verifier

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
)

func withLimits(i *issued, rl record.RateLimit) *issued {
	i.rec.RateLimit = rl
	return i
}

func TestLimitsDenyOverTheLimitAndReportWhatRemains(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	k := withLimits(f.issue("acme/payments/investigations:admin"), record.RateLimit{
		Limits: []record.Limit{{Name: "per-second", Strategy: ratelimit.TokenBucket, Limit: 2, PeriodSeconds: 1, Burst: 3}},
	})
	f.publish(k)
	// Reset is when the bucket is full again: the missing tokens at 2 per
	// second, rounded up.
	for _, want := range []struct{ remaining, reset int64 }{{2, 1}, {1, 1}, {0, 2}} {
		d := f.decide(k.key.Plaintext(), inScope, access.Environment{})
		g.Expect(d.Result).To(Equal(Permit))
		g.Expect(d.RateLimit).To(Equal(RateLimitStatus{Policy: "per-second", Limit: 3, Remaining: want.remaining, ResetSeconds: want.reset, WindowSeconds: 1}))
	}
	d := f.decide(k.key.Plaintext(), inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Deny))
	g.Expect(d.Reason).To(Equal(ReasonRateLimited))
	g.Expect(d.Message).To(ContainSubstring(`limit "per-second" is used up`))
	g.Expect(*d.RetryAfter).To(Equal(t0.Add(500 * time.Millisecond)))

	f.clock.Step(500 * time.Millisecond)
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit), "half a second refills one token")
}

func TestCostsByActionAndQuota(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	k := withLimits(f.issue("acme/payments/investigations:admin"), record.RateLimit{
		Quota: &record.Quota{Credits: 12, Refill: ratelimit.Daily},
		Costs: map[string]int64{"write": 5},
	})
	f.publish(k)
	write := "acme/payments/investigations/INV-7:write"
	g.Expect(f.decide(k.key.Plaintext(), write, access.Environment{}).RateLimit.Remaining).To(Equal(int64(7)))
	g.Expect(f.decide(k.key.Plaintext(), write, access.Environment{}).RateLimit.Remaining).To(Equal(int64(2)))
	d := f.decide(k.key.Plaintext(), write, access.Environment{})
	g.Expect(d.Reason).To(Equal(ReasonQuotaExhausted), "a write costs 5 and 2 remain")
	g.Expect(*d.RetryAfter).To(Equal(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)), "the quota refills at midnight")
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).RateLimit.Remaining).To(Equal(int64(1)), "a read still fits")
	g.Expect(f.v.QuotaUsage()).To(Equal([]QuotaUsage{{KeyID: k.key.ID(), Used: 11, Remaining: 1, ResetAt: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)}}))

	f.clock.SetTime(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))
	g.Expect(f.decide(k.key.Plaintext(), write, access.Environment{}).RateLimit.Remaining).To(Equal(int64(7)), "refilled")
}

func TestLimitsSharedByOwnerAddUp(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	team := record.RateLimit{Limits: []record.Limit{{Name: "team", Strategy: ratelimit.FixedWindow, Limit: 3, PeriodSeconds: 60, SharedByOwner: true}}}
	a, b := withLimits(f.issue("acme/payments/investigations:read"), team), withLimits(f.issue("acme/payments/investigations:read"), team)
	f.publish(a)
	f.publish(b)
	for _, k := range []*issued{a, b, a} {
		g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
	}
	d := f.decide(b.key.Plaintext(), inScope, access.Environment{})
	g.Expect(d.Reason).To(Equal(ReasonRateLimited), "both keys of the owner spent from one limit")
}

// TestOwnerSharingStopsAtTheNamespace: an owner is a claim made in one
// namespace; a key of the same owner name in another namespace spends
// from counters of its own, for limits and quotas alike.
func TestOwnerSharingStopsAtTheNamespace(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	team := record.RateLimit{
		Limits: []record.Limit{{Name: "team", Strategy: ratelimit.FixedWindow, Limit: 3, PeriodSeconds: 60, SharedByOwner: true}},
		Quota:  &record.Quota{Credits: 3, Refill: ratelimit.Daily, SharedByOwner: true},
	}
	victim, thief := withLimits(f.issue("acme/payments/investigations:read"), team), withLimits(f.issue("acme/payments/investigations:read"), team)
	thief.rec.APIKey.Namespace = "elsewhere"
	f.publish(victim)
	f.publish(thief)
	for range 3 {
		g.Expect(f.decide(thief.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
	}
	g.Expect(f.decide(thief.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Deny))
	d := f.decide(victim.key.Plaintext(), inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Permit), "the other namespace's requests counted nothing here")
	g.Expect(d.RateLimit.Remaining).To(Equal(int64(2)))
	usage := map[string]QuotaUsage{}
	for _, u := range f.v.QuotaUsage() {
		usage[u.KeyID] = u
	}
	g.Expect(usage[victim.key.ID()].Used).To(Equal(int64(1)), "the victim's usage report counts its own namespace only")
	g.Expect(usage[thief.key.ID()].Used).To(Equal(int64(3)))
}

func TestARefusedRequestSpendsNothingFromOtherLimits(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	k := withLimits(f.issue("acme/payments/investigations:read"), record.RateLimit{
		Limits: []record.Limit{{Name: "per-second", Strategy: ratelimit.FixedWindow, Limit: 1, PeriodSeconds: 1}},
		Quota:  &record.Quota{Credits: 5, Refill: ratelimit.Monthly},
	})
	f.publish(k)
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
	for range 5 {
		g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Reason).To(Equal(ReasonRateLimited))
	}
	f.clock.Step(time.Second)
	d := f.decide(k.key.Plaintext(), inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Permit))
	g.Expect(f.v.QuotaUsage()[0].Used).To(Equal(int64(2)), "the refused requests did not spend the quota")
}

func TestForwardAuthAnswers429WithRateLimitHeaders(t *testing.T) {
	f := newFixture(t, Options{})
	k := withLimits(f.issue("acme/payments/investigations:admin"), record.RateLimit{
		Limits: []record.Limit{{Name: "per-minute", Strategy: ratelimit.SlidingWindow, Limit: 2, PeriodSeconds: 60}},
	})
	f.publish(k)
	for _, p := range proxies {
		t.Run(p.name, func(t *testing.T) {
			g := NewWithT(t)
			f.clock.Step(2 * time.Minute) // a fresh window for each proxy
			h, err := newTestHandler(f.v, Config{Routes: []Route{{Path: "/exports/{id}", Org: "acme", Project: "payments", Type: "investigations", Action: "read", Cost: ptr.To[int64](2)}, DefaultRoutes[0]}})
			g.Expect(err).NotTo(HaveOccurred())
			send := func(uri string) *httptest.ResponseRecorder {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, p.build("GET", uri, http.Header{"Authorization": {"Bearer " + k.key.Plaintext()}}))
				return w
			}
			w := send("/acme/payments/investigations/INV-1")
			g.Expect(w.Code).To(Equal(200))
			g.Expect(w.Header().Get("RateLimit-Policy")).To(Equal(`"per-minute";q=2;w=60`))
			// A sliding window is whole again once its last cost leaves, up
			// to one slot (60s/31) after the period.
			g.Expect(w.Header().Get("RateLimit")).To(MatchRegexp(`^"per-minute";r=1;t=6[0-2]$`))

			w = send("/exports/INV-1") // costs 2, 1 remains
			want := 429
			if strings.HasPrefix(p.name, "nginx") {
				want = 403
			}
			g.Expect(w.Code).To(Equal(want))
			// A sliding window forgets a cost within one slot (60s/31) after
			// its period: the retry is 60 s, or up to two seconds later.
			g.Expect(w.Header().Get("Retry-After")).To(MatchRegexp(`^6[0-2]$`))
			g.Expect(w.Header().Get("RateLimit")).To(MatchRegexp(`^"per-minute";r=1;t=6[0-2]$`))
			g.Expect(w.Body.String()).To(ContainSubstring(`"reason":"rate_limited"`))
			g.Expect(w.Body.String()).NotTo(ContainSubstring(k.key.Plaintext()))
		})
	}
}

func TestDecisionAPIReportsRemaining(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	k := withLimits(f.issue("acme/payments/investigations:read"), record.RateLimit{
		Quota: &record.Quota{Credits: 100, Refill: ratelimit.Monthly, TimeZone: "Europe/Berlin"},
	})
	f.publish(k)
	h, _ := newTestHandler(f.v, Config{})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, DecisionPath, strings.NewReader(`{"subject":{"credential":"`+k.key.Plaintext()+`"},
		"resource":{"org":"acme","project":"payments","type":"investigations"},"action":{"id":"read"}}`)))
	g.Expect(w.Code).To(Equal(200))
	// 2026-12-01 00:00 in Berlin is 2026-11-30 23:00 UTC: 7 days and 13 hours away.
	g.Expect(w.Body.String()).To(ContainSubstring(`"rateLimit":{"policy":"quota","limit":100,"remaining":99,"resetSeconds":651600,"windowSeconds":651600}`))
}

func TestPreAuthLimitGuardsHashing(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{RateLimits: RateLimits{PreAuth: PreAuthLimits{
		PerSource: &RateSpec{Limit: 1, PeriodSeconds: 10, Burst: 2}, PerKeyID: &RateSpec{Limit: 100, PeriodSeconds: 1},
	}}})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	env := access.Environment{Address: addr("10.9.9.9")}
	g.Expect(f.decide(k.key.Plaintext(), inScope, env).Result).To(Equal(Permit))
	wrong, _ := keys.Generate(k.key.ID())
	g.Expect(f.decide(wrong.Plaintext(), inScope, env).Reason).To(Equal(ReasonInvalidSecret))
	hashes := f.v.HashesRun()
	d := f.decide(wrong.Plaintext(), inScope, env)
	g.Expect(d.Reason).To(Equal(ReasonRateLimited), "the source spent its two verifications")
	g.Expect(f.v.HashesRun()).To(Equal(hashes), "refused before hashing")
	g.Expect(f.decide(k.key.Plaintext(), inScope, env).Result).To(Equal(Permit), "a verified key is answered from the cache and not limited")
	g.Expect(f.decide(wrong.Plaintext(), inScope, access.Environment{Address: addr("10.9.9.10")}).Reason).To(Equal(ReasonInvalidSecret), "another source is not")
}

func TestRateLimitConfigRefusals(t *testing.T) {
	cases := map[string]struct {
		c    RateLimits
		want string
	}{
		"an unknown store":          {RateLimits{Store: "etcd"}, `rateLimits.store: "etcd" is not memory or redis`},
		"redis without an address":  {RateLimits{Store: "redis"}, "rateLimits.redis.address is required"},
		"redis while memory":        {RateLimits{Redis: &RedisConfig{Address: "x:1"}}, "set store: redis to use it"},
		"an unknown fallback":       {RateLimits{Store: "redis", Redis: &RedisConfig{Address: "x:1", Fallback: "Maybe"}}, `fallback: "Maybe" is not FailOpenLocal or Deny`},
		"an unknown quota fallback": {RateLimits{Store: "redis", Redis: &RedisConfig{Address: "x:1", QuotaFallback: "FailOpenLocal"}}, `quotaFallback: "FailOpenLocal" is not Deny or LocalShare`},
		"a share without replicas":  {RateLimits{Store: "redis", Redis: &RedisConfig{Address: "x:1", QuotaFallback: "LocalShare"}}, "rateLimits.redis.replicas: quotaFallback LocalShare needs the number of verifier replicas"},
		"a bad pre-auth limit":      {RateLimits{PreAuth: PreAuthLimits{PerSource: &RateSpec{Limit: 0, PeriodSeconds: 1}}}, "rateLimits.preAuth.perSource: limit must be positive"},
		"a missing password file":   {RateLimits{Store: "redis", Redis: &RedisConfig{Address: "x:1", PasswordFile: "/nonexistent/password"}}, "rateLimits.redis.passwordFile"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(Config{RateLimits: tc.c}.Validate()).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}
