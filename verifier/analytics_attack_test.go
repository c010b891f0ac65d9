package verifier

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
	kwtestutil "github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/internal/usage"
)

// Someone who knows MaxActivityKeys key IDs sends a few wrong secrets for
// each, more requests than the victim's own: the report still carries
// the victim, whose use verified, and leaves out one of the keys that were
// only named.
func TestAttackCrowdOutKeepsUsedKeysInTheReport(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	victim := f.issue("acme/payments/investigations:read")
	f.publish(victim)
	for range 5 {
		g.Expect(f.decide(victim.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
	}
	for i := range usage.MaxActivityKeys {
		k := f.issue("acme/payments/investigations:read")
		f.publish(k)
		wrong := wrongSecret(t, k)
		for j := range 6 {
			addr := netip.MustParseAddr("10.1." + strconv.Itoa(i%250) + "." + strconv.Itoa(j+1))
			g.Expect(f.decide(wrong, inScope, access.Environment{Address: addr}).Result).NotTo(Equal(Permit))
		}
	}
	r := f.v.ActivityReport(usage.MaxActivityKeys)
	g.Expect(r.Omitted).To(Equal(1))
	g.Expect(r.Keys).To(HaveLen(usage.MaxActivityKeys))
	g.Expect(r.Keys).To(HaveKey(victim.key.ID()), "the used key stays in the report")
	g.Expect(r.Keys[victim.key.ID()][0].Permits).To(BeEquivalentTo(5))
}

// A report chooses its keys by verified requests, then all requests, then
// key ID, whatever order the table holds them in; the rest are counted.
func TestActivityReportChoosesByVerifiedRequests(t *testing.T) {
	g := NewWithT(t)
	a := newActivity(100)
	env := snapshotEnv("", netip.Addr{})
	count := func(i int, d Decision, n int) {
		e := &Entry{Record: record.Record{KeyID: testKeyID(i)}}
		if d.Result == Permit || d.Reason == ReasonRateLimited {
			d.KeyID = e.Record.KeyID
		}
		d.entry = e
		for range n {
			a.record(d, &env, t0, time.Millisecond)
		}
	}
	permit, wrong := Decision{Result: Permit}, Decision{Result: Deny, Reason: ReasonInvalidSecret}
	count(0, wrong, 100)                                           // only named
	count(1, permit, 2)                                            // used a little
	count(2, Decision{Result: Deny, Reason: ReasonRateLimited}, 3) // used, limited
	count(3, permit, 2)
	count(3, wrong, 1) // as used as 1, more requests
	count(4, wrong, 50)
	top, others := a.busiest(t0, 3)
	var ids []string
	for _, km := range top {
		ids = append(ids, km.id)
	}
	g.Expect(ids).To(Equal([]string{testKeyID(2), testKeyID(3), testKeyID(1)}))
	g.Expect(others).To(Equal(2))
	g.Expect(top[0].minutes).To(HaveLen(1))
	g.Expect(top[0].minutes[0].OtherDenials).To(BeEquivalentTo(3))

	all, none := a.busiest(t0, 0)
	g.Expect(all).To(BeEmpty())
	g.Expect(none).To(Equal(5))
}

// Which denials of a verified credential are its holder's probing (the
// Denials detector's to judge) and which happen to honest clients too.
func TestHolderCausedDenials(t *testing.T) {
	g := NewWithT(t)
	for _, r := range []Reason{ReasonInsufficientScope, ReasonCountryNotAllowed, ReasonSourceNotAllowed, ReasonOutsideTimeWindow,
		ReasonNetworkNotAllowed, ReasonDeviceNotCompliant, ReasonCertificateMismatch, ReasonCertificateRequired,
		ReasonCertificateUntrusted, ReasonAuthMethodNotAllowed, ReasonTokenCertificateMismatch} {
		g.Expect(holderCaused(deny(r, ""))).To(BeTrue(), string(r))
	}
	for _, d := range []Decision{deny(ReasonRateLimited, ""), deny(ReasonQuotaExhausted, ""), deny(ReasonSecretExpired, ""),
		deny(ReasonNotYetValid, ""), deny(ReasonCertificateExpired, ""), indeterminate(ReasonRateLimitUnavailable, ""),
		indeterminate(ReasonHashingBusy, ""), indeterminate(ReasonReplayUnavailable, "")} {
		g.Expect(holderCaused(d)).To(BeFalse(), string(d.Reason))
	}
}

// A Redis outage (the real server stopped) denies every request of a key
// with limits: they are the key's use, in OtherDenials, and no detector
// makes an actionable finding of them, however used to no denials the key
// is.
func TestAttackRedisOutageIsNoProbe(t *testing.T) {
	g := NewWithT(t)
	srv := kwtestutil.StartRedisServer(t)
	f := newFixture(t, Options{RateLimits: RateLimits{Store: "redis", Redis: &RedisConfig{Address: srv.Addr(), Fallback: ratelimit.Deny, TimeoutMilliseconds: 200}}})
	t.Cleanup(func() { _ = f.v.Close() })
	k := withLimits(f.issue("acme/payments/investigations:read"), record.RateLimit{
		Limits: []record.Limit{{Name: "per-minute", Strategy: ratelimit.FixedWindow, Limit: 100000, PeriodSeconds: 60}},
	})
	f.publish(k)
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
	srv.Stop()
	f.clock.Step(time.Minute)
	for range 40 {
		g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Reason).To(Equal(ReasonRateLimitUnavailable))
	}
	minutes := f.v.ActivityReport(usage.MaxActivityKeys).Keys[k.key.ID()]
	outage := minutes[len(minutes)-1]
	g.Expect(outage.VerifiedDenials).To(BeZero())
	g.Expect(outage.OtherDenials).To(BeEquivalentTo(40))
	g.Expect(outage.Denials).To(Equal(map[string]uint32{string(ReasonRateLimitUnavailable): 40}))
	expectNoActionableFinding(g, k.key.ID(), outage)
}

// A key first exhausting its quota is denied for the rest of the period:
// its use, never a probe.
func TestAttackQuotaExhaustionIsNoProbe(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	k := withLimits(f.issue("acme/payments/investigations:read"), record.RateLimit{
		Quota: &record.Quota{Credits: 5, Refill: ratelimit.Daily},
	})
	f.publish(k)
	for i := range 45 {
		d := f.decide(k.key.Plaintext(), inScope, access.Environment{})
		if i < 5 {
			g.Expect(d.Result).To(Equal(Permit))
		} else {
			g.Expect(d.Reason).To(Equal(ReasonQuotaExhausted))
		}
	}
	m := f.v.ActivityReport(usage.MaxActivityKeys).Keys[k.key.ID()][0]
	g.Expect(m.Permits).To(BeEquivalentTo(5))
	g.Expect(m.VerifiedDenials).To(BeZero())
	g.Expect(m.OtherDenials).To(BeEquivalentTo(40))
	expectNoActionableFinding(g, k.key.ID(), m)
}

// expectNoActionableFinding commits last after four days of the key's
// ordinary use (permits only) and expects no actionable finding, and the
// minute to count as the key's use.
func expectNoActionableFinding(g *WithT, keyID string, last analytics.Minute) {
	s := analytics.NewStore(analytics.DefaultParams(), 10)
	for at := last.Start.Add(-4 * 24 * time.Hour); at.Before(last.Start); at = at.Add(time.Minute) {
		s.Commit(keyID, analytics.Minute{Start: at, Permits: 40})
	}
	g.Expect(s.Commit(keyID, last)).NotTo(ContainElement(HaveField("Actionable", true)))
	sum, ok := s.Summary(keyID, last.Start.Add(time.Minute))
	g.Expect(ok).To(BeTrue())
	g.Expect(sum.LastUsed).To(Equal(last.Start), "denied for its limits, the key was still used")
}
