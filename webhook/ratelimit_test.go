package webhook

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// ceilingNamespace makes a namespace whose KeyPolicy allows at most 100
// requests per second, 200 at once.
func ceilingNamespace(t *testing.T) (ns, policyName string) {
	t.Helper()
	ns = namespaceWithLabels(t, nil)
	policyName = "ceiling-" + ns
	createPolicy(t, policyName, ns, keywardv1.KeyPolicySpec{
		RateLimitCeiling: &keywardv1.RateLimitCeiling{Limit: 100, PeriodSeconds: 1, MaxBurst: ptr.To[int64](200)},
	})
	return ns, policyName
}

func limited(limits ...keywardv1.Limit) func(*keywardv1.APIKey) {
	return func(k *keywardv1.APIKey) { k.Spec.RateLimit = &keywardv1.RateLimit{Limits: limits} }
}

func tokenBucket(name string, limit, period, burst int64) keywardv1.Limit {
	return keywardv1.Limit{Name: name, Strategy: keywardv1.TokenBucket, Limit: limit, PeriodSeconds: period, Burst: ptr.To(burst)}
}

func TestAdmissionEnforcesRateLimitCeilingsAndDelegation(t *testing.T) {
	ns, p := ceilingNamespace(t)
	g := NewWithT(t)
	ctx := context.Background()
	org := key(ns, "org", func(k *keywardv1.APIKey) {
		k.Spec.Scopes = []keywardv1.Scope{"acme/payments/investigations:admin"}
		k.Spec.RateLimit = &keywardv1.RateLimit{
			Limits: []keywardv1.Limit{tokenBucket("per-second", 50, 1, 100)},
			Quota:  &keywardv1.Quota{Credits: 10000, Refill: keywardv1.Monthly},
		}
	})
	g.Expect(k8s.Create(ctx, org)).To(Succeed())
	child := func(rl *keywardv1.RateLimit) func(*keywardv1.APIKey) {
		return func(k *keywardv1.APIKey) {
			k.Spec.Parent = &keywardv1.ParentReference{Name: "org"}
			k.Spec.RateLimit = rl
			// A day less than the parent's 30: created seconds later, 30
			// days would outlive it.
			k.Spec.Expiration = &keywardv1.Expiration{AfterDays: ptr.To[int32](29)}
		}
	}
	ceiling := fmt.Sprintf(`KeyPolicy %q requires a rate limit of at most 100 per 1s (at most 200 at once); this key has none that strict`, p)

	expectRefused(t, ns, map[string]refusal{
		"no rate limit": {nil, []string{"spec.rateLimit.limits: Forbidden: " + ceiling}},
		"a limit over the ceiling": {limited(keywardv1.Limit{Name: "per-second", Strategy: keywardv1.SlidingWindow, Limit: 1000, PeriodSeconds: 1}),
			[]string{"spec.rateLimit.limits: Forbidden: " + ceiling}},
		"a burst over the ceiling": {limited(tokenBucket("per-second", 10, 1, 500)), []string{"spec.rateLimit.limits: Forbidden: " + ceiling}},
		"a window as long as a day": {limited(keywardv1.Limit{Name: "daily", Strategy: keywardv1.FixedWindow, Limit: 8640000, PeriodSeconds: 86400}),
			[]string{"spec.rateLimit.limits: Forbidden: " + ceiling}},
		"a child with a looser limit than its parent": {child(&keywardv1.RateLimit{Limits: []keywardv1.Limit{tokenBucket("per-second", 80, 1, 100)},
			Quota: &keywardv1.Quota{Credits: 100, Refill: keywardv1.Monthly}}),
			[]string{`spec.rateLimit.limits: Forbidden: parent key "org" is limited to 50 per 1s (at most 100 at once) (limit "per-second"); a delegated key needs a limit at least as strict`}},
		"a child without its parent's quota": {child(&keywardv1.RateLimit{Limits: []keywardv1.Limit{tokenBucket("per-second", 5, 1, 10)}}),
			[]string{`spec.rateLimit.quota: Forbidden: parent key "org" has a Monthly quota of 10000 credits; a delegated key needs a quota with the same refill and time zone and no more credits`}},
		"a cost no limit can hold": {func(k *keywardv1.APIKey) {
			k.Spec.RateLimit = &keywardv1.RateLimit{Limits: []keywardv1.Limit{tokenBucket("per-second", 10, 1, 10)}, Costs: &keywardv1.ActionCosts{Write: ptr.To[int64](50)}}
		}, []string{`spec.rateLimit.costs.write: Invalid value: a cost of 50 is more than limit "per-second" can ever hold (10)`}},
		"a quota in an unknown time zone": {func(k *keywardv1.APIKey) {
			k.Spec.RateLimit = &keywardv1.RateLimit{Limits: []keywardv1.Limit{tokenBucket("per-second", 10, 1, 10)}, Quota: &keywardv1.Quota{Credits: 5, Refill: keywardv1.Daily, TimeZone: "Mars/Base"}}
		}, []string{`spec.rateLimit.quota.timeZone: Invalid value: unknown time zone "Mars/Base"`}},
		"burst on a window (the schema)": {limited(keywardv1.Limit{Name: "w", Strategy: keywardv1.FixedWindow, Limit: 10, PeriodSeconds: 1, Burst: ptr.To[int64](20)}),
			[]string{"burst applies only to the TokenBucket strategy"}},
	})
	expectAdmitted(t, ns, map[string]func(*keywardv1.APIKey){
		"a token bucket within the ceiling": limited(tokenBucket("per-second", 100, 1, 200)),
		"a slower window and a per-owner limit": limited(
			keywardv1.Limit{Name: "per-minute", Strategy: keywardv1.SlidingWindow, Limit: 120, PeriodSeconds: 60},
			keywardv1.Limit{Name: "team", Strategy: keywardv1.FixedWindow, Limit: 100000, PeriodSeconds: 3600, SharedBy: keywardv1.SharedByOwner}),
		"a stricter child": child(&keywardv1.RateLimit{Limits: []keywardv1.Limit{tokenBucket("per-second", 5, 1, 10)},
			Quota: &keywardv1.Quota{Credits: 500, Refill: keywardv1.Monthly}, Costs: &keywardv1.ActionCosts{Write: ptr.To[int64](5)}}),
	})
}
