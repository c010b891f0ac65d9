package usageanalytics

import (
	"io"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/verifier"
)

// watchDenials polls every replica for each key, every few milliseconds,
// until each is denied with its reason everywhere or within has passed,
// and then sends when each was. It runs while the test lets the aggregator
// find the anomalies, so that the times measure the response, not the test.
func (s *stack) watchDenials(want map[string]verifier.Reason, within time.Duration) <-chan map[string]time.Time {
	out := make(chan map[string]time.Time, 1)
	go func() {
		seen := map[string]time.Time{}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(within)
		for len(seen) < len(want) {
			select {
			case <-deadline:
				out <- seen
				return
			case <-tick.C:
			}
			for plain, reason := range want {
				if _, done := seen[plain]; done {
					continue
				}
				denied := true
				for r := range s.verifiers {
					got, err := s.decide(r, plain, http.MethodGet, home)
					denied = denied && err == nil && got == reason
				}
				if denied {
					seen[plain] = time.Now()
				}
			}
		}
		out <- seen
	}()
	return out
}

// responded is what expectPolicyResponse made: the suspended key and the
// minute of its finding.
type responded struct {
	ns, stolen, stolenID, floodedID string
	minute                          time.Time
}

// expectPolicyResponse sends traffic that a KeyPolicy answers with Suspend
// (a key used from the other side of the world a minute after home) and
// with Revoke (a key far above its baseline), and expects both replicas to
// deny each key within a second of its finding reaching the APIKey
// controller's inbox. It logs the measured times.
func expectPolicyResponse(t *testing.T, g *WithT, s *stack) responded {
	ns := s.namespace(t, g, &keywardv1.AnomalyResponse{NewLocation: ptr.To(keywardv1.AnomalySuspend), Volume: ptr.To(keywardv1.AnomalyRevoke)})
	stolen, stolenID := s.liveKey(t, g, ns, "stolen")
	flooded, floodedID := s.liveKey(t, g, ns, "flooded")
	m := s.nextMinute(g)
	s.seed(stolenID, 4, m)
	s.seed(floodedID, 4, m)
	s.sendN(g, 0, 3, stolen, http.MethodGet, newZealand, verifier.ReasonAllowed)
	for r := range replicas {
		s.sendN(g, r, 160, flooded, http.MethodGet, home, verifier.ReasonAllowed)
	}
	s.endMinute(g, m, map[string]uint64{stolenID: 3, floodedID: 320})
	// The keys' requests from here on are in the next minute, which this
	// test does not close.
	watched := s.watchDenials(map[string]verifier.Reason{stolen: verifier.ReasonSuspended, flooded: verifier.ReasonRevoked}, waitFor)
	s.commitMinute(g, m)

	found := map[string]timedFinding{}
	for plain, id := range map[string]string{stolen: stolenID, flooded: floodedID} {
		f := s.findings.of(id)
		g.Expect(f).To(HaveLen(1))
		found[plain] = f[0]
	}
	g.Expect(found[stolen].Reason).To(Equal(analytics.ImpossibleTravel))
	g.Expect(found[flooded].Reason).To(Equal(analytics.VolumeSpike))
	denied := <-watched
	for plain, what := range map[string]string{stolen: "suspended", flooded: "revoked"} {
		g.Expect(denied).To(HaveKey(plain), "the %s key was never denied", what)
		took := denied[plain].Sub(found[plain].reported)
		t.Logf("%s key denied (%s) by both replicas %v after its finding reached the inbox", what, what, took.Round(time.Millisecond))
		g.Expect(took).To(BeNumerically("<", time.Second))
	}
	g.Eventually(func(g Gomega) {
		k := s.apiKey(g, ns, "flooded")
		g.Expect(meta.FindStatusCondition(k.Status.Conditions, keywardv1.ReadyCondition).Reason).To(Equal(keywardv1.RevokedByDetectorReason))
		g.Expect(k.Status.Anomaly).NotTo(BeNil())
		g.Expect(k.Status.Anomaly.Action).To(Equal(keywardv1.AnomalyRevoke))
	}).WithTimeout(waitFor).Should(Succeed())
	return responded{ns: ns, stolen: stolen, stolenID: stolenID, floodedID: floodedID, minute: m}
}

// A KeyPolicy's Suspend and Revoke act on findings of real traffic within
// a second. A person sees the usage and the anomaly in `kubectl describe
// apikey`; the notification sink receives the CloudEvent.
func TestSuspendAndRevokeByPolicyWithinASecond(t *testing.T) {
	g := NewWithT(t)
	s := embedded
	got := expectPolicyResponse(t, g, s)
	ns, stolen, stolenID, floodedID, m := got.ns, got.stolen, got.stolenID, got.floodedID, got.minute

	key := s.expectFinding(g, ns, "stolen", analytics.ImpossibleTravel, keywardv1.AnomalySuspend)
	g.Eventually(func(g Gomega) {
		key = s.apiKey(g, ns, "stolen")
		g.Expect(meta.FindStatusCondition(key.Status.Conditions, keywardv1.ReadyCondition).Reason).To(Equal(keywardv1.SuspendedByDetectorReason))
		g.Expect(key.Status.Usage).NotTo(BeNil())
		g.Expect(key.Status.Anomaly.NotifiedTime).NotTo(BeNil())
	}).WithTimeout(waitFor).Should(Succeed())
	described := s.kubectl(g, "describe", "apikey", "-n", ns, "stolen")
	t.Logf("$ kubectl describe apikey -n %s stolen\n%s", ns, described)
	for _, shown := range []string{"Usage:", "Last Day:", "Top Countries:", "NZ", "Anomaly:", "ImpossibleTravel", "NewLocation",
		keywardv1.SuspendedByDetectorReason, "KeyAnomalous", key.Status.Anomaly.ID} {
		g.Expect(described).To(ContainSubstring(shown))
	}

	// One finding is one CloudEvent: should it be sent again (the status
	// write recording the sending lost a race), it is under the same id,
	// which CloudEvents consumers take for the same event.
	var event map[string]any
	g.Eventually(func(g Gomega) {
		events := s.events.About(owner + "/" + stolenID)
		g.Expect(events).NotTo(BeEmpty())
		for _, e := range events {
			g.Expect(e["id"]).To(Equal(events[0]["id"]))
		}
		event = events[0]
	}).WithTimeout(waitFor).Should(Succeed())
	t.Logf("the CloudEvent as the sink received it:\n%s", event["_raw"])
	g.Expect(event).To(HaveKeyWithValue("type", "dev.keyward.apikey.anomalous"))
	g.Expect(event).To(HaveKeyWithValue("id", "anomaly-"+key.Status.Anomaly.ID))
	g.Expect(event["data"]).To(And(
		HaveKeyWithValue("keyID", stolenID), HaveKeyWithValue("namespace", ns), HaveKeyWithValue("name", "stolen"),
		HaveKeyWithValue("detector", "NewLocation"), HaveKeyWithValue("reason", "ImpossibleTravel"), HaveKeyWithValue("action", "Suspend"),
		HaveKeyWithValue("at", m.Format(time.RFC3339)),
		HaveKeyWithValue("message", ContainSubstring("seen: DE). keyward suspended the key")),
	))
	g.Expect(event["_raw"]).NotTo(ContainSubstring(stolen))
	g.Eventually(func() []map[string]any { return s.events.About(owner + "/" + floodedID) }).WithTimeout(waitFor).Should(
		ContainElement(HaveKeyWithValue("data", HaveKeyWithValue("action", "Revoke"))))
}

// kubectl runs kubectl as a cluster administrator against the stack's API
// server and returns what it printed.
func (s *stack) kubectl(g *WithT, args ...string) string {
	user, err := s.env.ControlPlane.AddUser(envtest.User{Name: "platform-engineer", Groups: []string{"system:masters"}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	kubectl, err := user.Kubectl()
	g.Expect(err).NotTo(HaveOccurred())
	stdout, stderr, err := kubectl.Run(args...)
	out, _ := io.ReadAll(stdout)
	errOut, _ := io.ReadAll(stderr)
	g.Expect(err).NotTo(HaveOccurred(), string(errOut))
	return string(out)
}
