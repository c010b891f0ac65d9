package usageanalytics

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/verifier"
)

// expectFinding waits until the key shows the finding with that reason
// and action, under the Anomalous condition, and returns its status.
func (s *stack) expectFinding(g *WithT, ns, name string, reason analytics.Reason, action keywardv1.AnomalyAction) *keywardv1.APIKey {
	var key *keywardv1.APIKey
	g.Eventually(func(g Gomega) {
		key = s.apiKey(g, ns, name)
		g.Expect(key.Status.Anomaly).NotTo(BeNil(), "status.anomaly of %s", name)
		g.Expect(key.Status.Anomaly.Reason).To(BeEquivalentTo(reason))
		g.Expect(key.Status.Anomaly.Action).To(Equal(action))
		c := meta.FindStatusCondition(key.Status.Conditions, keywardv1.AnomalousCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(BeEquivalentTo("True"))
		g.Expect(c.Reason).To(BeEquivalentTo(reason))
	}).WithTimeout(waitFor).Should(Succeed())
	return key
}

// expectNoFinding: the detectors found nothing of the key, which shows no
// anomaly. The findings of a minute are made in the pass that commits it,
// which closeMinute waited for.
func (s *stack) expectNoFinding(g *WithT, ns, name, keyID string) {
	g.Expect(s.findings.of(keyID)).To(BeEmpty(), "findings of %s", name)
	key := s.apiKey(g, ns, name)
	g.Expect(key.Status.Anomaly).To(BeNil())
	g.Expect(meta.IsStatusConditionTrue(key.Status.Conditions, keywardv1.AnomalousCondition)).To(BeFalse())
}

// A key used from a new country, from the other side of the world a minute
// after home, or from a new network is flagged for each; the key used from
// home is not. The countries come from the verifiers' GeoIP database.
func TestNewLocationsFromRealTraffic(t *testing.T) {
	g := NewWithT(t)
	s := embedded
	ns := s.namespace(t, g, nil)
	ids := map[string]string{}
	plains := map[string]string{}
	for _, name := range []string{"home", "abroad", "far", "moved"} {
		plains[name], ids[name] = s.liveKey(t, g, ns, name)
	}
	m := s.nextMinute(g)
	// Two days of use from home: past NewLocationWarmUp, where the
	// countries and networks a key is seen in are its own.
	for _, id := range ids {
		s.seed(id, 2, m)
	}
	s.sendN(g, 0, 3, plains["home"], http.MethodGet, home, verifier.ReasonAllowed)
	s.sendN(g, 1, 3, plains["abroad"], http.MethodGet, france, verifier.ReasonAllowed)
	s.sendN(g, 0, 3, plains["far"], http.MethodGet, newZealand, verifier.ReasonAllowed)
	s.sendN(g, 1, 3, plains["moved"], http.MethodGet, homeNeighbor, verifier.ReasonAllowed)
	s.closeMinute(g, m, map[string]uint64{ids["home"]: 3, ids["abroad"]: 3, ids["far"]: 3, ids["moved"]: 3})

	s.expectFinding(g, ns, "abroad", analytics.NewCountry, keywardv1.AnomalyAlert)
	far := s.expectFinding(g, ns, "far", analytics.ImpossibleTravel, keywardv1.AnomalyAlert)
	s.expectFinding(g, ns, "moved", analytics.NewNetwork, keywardv1.AnomalyAlert)
	s.expectNoFinding(g, ns, "home", ids["home"])
	t.Logf("far: %s", far.Status.Anomaly.Message)
	// Alert leaves every key working.
	for name, addr := range map[string]string{"abroad": france, "far": newZealand, "moved": homeNeighbor} {
		g.Expect(s.send(g, 0, plains[name], http.MethodGet, addr)).To(Equal(verifier.ReasonAllowed))
	}
}

// Verified denials far above a key's usual share (a holder probing what the
// key may do) suspend it under a Suspend policy; a flood of wrong secrets
// from a new country only alerts, whatever the policy says, and moves the
// key nowhere: anyone who read the key ID can send it.
func TestDenialSpikesFromRealTraffic(t *testing.T) {
	g := NewWithT(t)
	s := embedded
	ns := s.namespace(t, g, &keywardv1.AnomalyResponse{Denials: ptr.To(keywardv1.AnomalySuspend), NewLocation: ptr.To(keywardv1.AnomalySuspend)})
	ids := map[string]string{}
	plains := map[string]string{}
	for _, name := range []string{"steady", "probing", "guessed"} {
		plains[name], ids[name] = s.liveKey(t, g, ns, name)
	}
	m := s.nextMinute(g)
	// Past the Denials detector's warm-up of a key's usual share.
	for _, id := range ids {
		s.seed(id, 2, m)
	}
	s.sendN(g, 0, 5, plains["steady"], http.MethodGet, home, verifier.ReasonAllowed)
	s.sendN(g, 1, 1, plains["steady"], http.MethodPost, home, verifier.ReasonInsufficientScope)

	s.sendN(g, 0, 5, plains["probing"], http.MethodGet, home, verifier.ReasonAllowed)
	for r := range replicas {
		s.sendN(g, r, 20, plains["probing"], http.MethodPost, home, verifier.ReasonInsufficientScope)
	}

	s.sendN(g, 0, 5, plains["guessed"], http.MethodGet, home, verifier.ReasonAllowed)
	guess, attacker := wrongSecret(g, ids["guessed"]), stranger()
	for r := range replicas {
		for range 20 {
			// the first few are judged; then backoff refuses the rest unheard
			g.Expect(s.send(g, r, guess, http.MethodGet, attacker)).To(BeElementOf(verifier.ReasonInvalidSecret, verifier.ReasonTooManyFailures))
		}
	}
	s.closeMinute(g, m, map[string]uint64{ids["steady"]: 6, ids["probing"]: 45, ids["guessed"]: 45})

	probing := s.findings.of(ids["probing"])
	g.Expect(probing).To(HaveLen(1))
	g.Expect(probing[0].Actionable).To(BeTrue())
	s.expectDeniedEverywhere(g, plains["probing"], verifier.ReasonSuspended, time.Second)
	t.Logf("the probing key was denied (suspended) by both replicas within %v after its finding reached the inbox",
		time.Since(probing[0].reported).Round(time.Millisecond))
	s.expectFinding(g, ns, "probing", analytics.DenialSpike, keywardv1.AnomalySuspend)

	guessed := s.findings.of(ids["guessed"])
	g.Expect(guessed).To(HaveLen(1))
	g.Expect(guessed[0].Detector).To(Equal(analytics.Denials))
	g.Expect(guessed[0].Actionable).To(BeFalse())
	key := s.expectFinding(g, ns, "guessed", analytics.DenialSpike, keywardv1.AnomalyAlert)
	g.Expect(meta.FindStatusCondition(key.Status.Conditions, keywardv1.ReadyCondition).Reason).NotTo(Equal(keywardv1.SuspendedByDetectorReason))
	for r := range replicas {
		g.Expect(s.send(g, r, plains["guessed"], http.MethodGet, home)).To(Equal(verifier.ReasonAllowed))
	}
	s.expectNoFinding(g, ns, "steady", ids["steady"])
}

// A key far above its own baseline for the hour of the day is flagged; a
// key at its baseline is not. The baseline is days of seeded history, the
// spike is real requests.
func TestVolumeSpikeFromRealTraffic(t *testing.T) {
	g := NewWithT(t)
	s := embedded
	ns := s.namespace(t, g, nil)
	surging, surgingID := s.liveKey(t, g, ns, "surging")
	flat, flatID := s.liveKey(t, g, ns, "flat")
	m := s.nextMinute(g)
	// Four days of a request a minute: past WarmUp, every hour of the day
	// seen on enough days. The limit is five times the baseline, 300 an
	// hour.
	s.seed(surgingID, 4, m)
	s.seed(flatID, 4, m)
	for r := range replicas {
		s.sendN(g, r, 160, surging, http.MethodGet, home, verifier.ReasonAllowed)
		s.sendN(g, r, 1, flat, http.MethodGet, home, verifier.ReasonAllowed)
	}
	s.closeMinute(g, m, map[string]uint64{surgingID: 320, flatID: 2})

	key := s.expectFinding(g, ns, "surging", analytics.VolumeSpike, keywardv1.AnomalyAlert)
	t.Logf("surging: %s", key.Status.Anomaly.Message)
	s.expectNoFinding(g, ns, "flat", flatID)
}

// A key whose clock hour falls far below its baseline, while it is used
// before and after, is flagged once the hour is over; a key somewhat below
// its baseline is not.
func TestVolumeDropFromRealTraffic(t *testing.T) {
	g := NewWithT(t)
	s := embedded
	ns := s.namespace(t, g, nil)
	dropping, droppingID := s.liveKey(t, g, ns, "dropping")
	steady, steadyID := s.liveKey(t, g, ns, "steadfast")
	hour := s.clock.Now().Truncate(time.Hour).Add(time.Hour)
	s.stepTo(g, hour.Add(time.Second))
	// Four days of five requests a minute, 300 an hour: an hour below a
	// fifth of it is a drop.
	s.seedN(droppingID, 4, hour, 5)
	s.seedN(steadyID, 4, hour, 5)
	for r := range replicas {
		s.sendN(g, r, 5, dropping, http.MethodGet, home, verifier.ReasonAllowed)
		s.sendN(g, r, 35, steady, http.MethodGet, home, verifier.ReasonAllowed)
	}
	s.closeMinute(g, hour, map[string]uint64{droppingID: 10, steadyID: 70})
	// The hour is not over: its count may still grow.
	g.Expect(s.findings.of(droppingID)).To(BeEmpty())

	next := hour.Add(time.Hour)
	s.stepTo(g, next.Add(time.Second))
	s.sendN(g, 0, 5, dropping, http.MethodGet, home, verifier.ReasonAllowed)
	s.sendN(g, 1, 5, steady, http.MethodGet, home, verifier.ReasonAllowed)
	s.closeMinute(g, next, map[string]uint64{droppingID: 5, steadyID: 5})

	key := s.expectFinding(g, ns, "dropping", analytics.VolumeDrop, keywardv1.AnomalyAlert)
	t.Logf("dropping: %s", key.Status.Anomaly.Message)
	s.expectNoFinding(g, ns, "steadfast", steadyID)
}

// A key with a steady baseline that stops being used is flagged once its
// silence is long enough (SilenceAfter, six hours); a key with the same
// baseline still in use is not. Time passes on the stepped clock.
func TestSilenceAsTimePasses(t *testing.T) {
	g := NewWithT(t)
	s := embedded
	ns := s.namespace(t, g, nil)
	_, quietID := s.liveKey(t, g, ns, "quiet")
	busy, busyID := s.liveKey(t, g, ns, "busy")
	start := s.nextMinute(g)
	s.seed(quietID, 4, start)
	s.seed(busyID, 4, start)
	for step := 1; step <= 4; step++ {
		m := start.Add(time.Duration(step) * 2 * time.Hour)
		s.stepTo(g, m.Add(time.Second))
		if step < 3 {
			g.Expect(s.findings.of(quietID)).To(BeEmpty(), "silent for %d hours", 2*step)
		}
		s.sendN(g, step%replicas, 2, busy, http.MethodGet, home, verifier.ReasonAllowed)
		s.closeMinute(g, m, map[string]uint64{busyID: 2})
	}
	key := s.expectFinding(g, ns, "quiet", analytics.FellSilent, keywardv1.AnomalyAlert)
	t.Logf("quiet: %s", key.Status.Anomaly.Message)
	g.Expect(s.findings.of(quietID)).To(HaveLen(1))
	s.expectNoFinding(g, ns, "busy", busyID)
}
