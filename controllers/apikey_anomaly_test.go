package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/notify"
	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/internal/record"
)

func TestTheAnomalyInboxKeepsOneFindingPerDetectorOfABoundedNumberOfKeys(t *testing.T) {
	g := NewWithT(t)
	b := newAnomalyInbox(2)
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	b.Report(analytics.KeyFinding{KeyID: "a", Finding: analytics.Finding{Detector: analytics.Volume, At: at, Actionable: true}})
	b.Report(analytics.KeyFinding{KeyID: "a", Finding: analytics.Finding{Detector: analytics.Silence, At: at.Add(2 * time.Minute), Actionable: true}})
	b.Report(analytics.KeyFinding{KeyID: "a", Finding: analytics.Finding{Detector: analytics.Volume, Reason: analytics.VolumeDrop, At: at.Add(time.Minute), Actionable: true}})
	b.Report(analytics.KeyFinding{KeyID: "b", Finding: analytics.Finding{Detector: analytics.Volume, At: at}})
	b.Report(analytics.KeyFinding{KeyID: "c", Finding: analytics.Finding{Detector: analytics.Volume, At: at}})
	g.Expect(b.wake).To(HaveLen(2), "one wake-up per key, however many findings")
	fs := b.take("a")
	g.Expect(fs).To(HaveLen(2), "one finding per detector")
	g.Expect(fs[0].Detector).To(Equal(analytics.Volume), "oldest first")
	g.Expect(fs[0].Reason).To(Equal(analytics.VolumeDrop), "of one detector, the latest")
	g.Expect(fs[1].Detector).To(Equal(analytics.Silence))
	g.Expect(b.take("c")).To(BeEmpty(), "a key beyond the bound is dropped")
	g.Expect(b.take("a")).To(BeEmpty(), "taken once")
	b.putBack("b", []analytics.Finding{{Detector: analytics.Volume, At: at.Add(-time.Minute)}, {Detector: analytics.Denials, At: at.Add(-time.Minute)}})
	fs = b.take("b")
	g.Expect(fs).To(HaveLen(2))
	g.Expect(fs[0].Detector).To(Equal(analytics.Denials), "a put-back finding of another detector waits again")
	g.Expect(fs[1].Detector).To(Equal(analytics.Volume))
	g.Expect(fs[1].At).To(Equal(at), "a put-back finding never replaces a newer one of its detector")
}

// The detectors of one minute report Denials last. A thief uses the key
// from a new country and, in the same minute, sends wrong secrets naming
// its key ID: the denial spike, which anyone could cause, must not hide
// the new country.
func TestTheAnomalyInboxNeverLetsADenialSpikeAnyoneCanCauseHideANewCountry(t *testing.T) {
	g := NewWithT(t)
	b := newAnomalyInbox(10)
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	b.Report(analytics.KeyFinding{KeyID: "k", Finding: newCountry(at)})
	b.Report(analytics.KeyFinding{KeyID: "k", Finding: probedDenials(at)})
	fs := b.take("k")
	g.Expect(fs).To(HaveLen(2))
	g.Expect(fs[0].Reason).To(Equal(analytics.NewCountry))
	g.Expect(fs[1].Reason).To(Equal(analytics.DenialSpike))

	// Within one detector: a spike of unverified denials never replaces
	// a spike of verified ones waiting, nor does it when put back.
	verified := analytics.Finding{Detector: analytics.Denials, Reason: analytics.DenialSpike, At: at, Actionable: true}
	b.Report(analytics.KeyFinding{KeyID: "k", Finding: verified})
	b.Report(analytics.KeyFinding{KeyID: "k", Finding: probedDenials(at.Add(time.Minute))})
	g.Expect(b.take("k")).To(Equal([]analytics.Finding{verified}))
	b.Report(analytics.KeyFinding{KeyID: "k", Finding: probedDenials(at.Add(time.Minute))})
	b.putBack("k", []analytics.Finding{verified})
	g.Expect(b.take("k")).To(Equal([]analytics.Finding{verified}))
}

// probedDenials is a denial spike of wrong secrets naming the key's ID:
// anyone who knows it can cause one.
func probedDenials(at time.Time) analytics.Finding {
	return analytics.Finding{Detector: analytics.Denials, Reason: analytics.DenialSpike, At: at, Actionable: false,
		Message: "412 denials (invalid_secret) in a minute against a usual 0."}
}

// reportTogether hands findings to the manager as one pass of the usage
// aggregator can: all waiting before the key's reconcile takes any.
func reportTogether(key *keywardv1.APIKey, fs ...analytics.Finding) {
	b := reconciler.Anomalies
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range fs {
		b.putLocked(key.Status.KeyID, f)
	}
}

// anomalyNamespace is a new namespace whose KeyPolicy requires resp.
func anomalyNamespace(t *testing.T, g *WithT, resp keywardv1.AnomalyResponse) string {
	t.Helper()
	ns := newNamespace(t)
	labelNamespace(t, ns, map[string]string{"anomaly-policy": ns})
	p := &keywardv1.KeyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "anomaly-" + ns},
		Spec: keywardv1.KeyPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"anomaly-policy": ns}},
			AnomalyResponse:   &resp,
		},
	}
	g.Expect(k8s.Create(context.Background(), p)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })
	return ns
}

func action(a keywardv1.AnomalyAction) *keywardv1.AnomalyAction { return &a }

// report hands a finding to the manager as the usage aggregator does.
func report(key *keywardv1.APIKey, f analytics.Finding) {
	reconciler.Anomalies.Report(analytics.KeyFinding{KeyID: key.Status.KeyID, Finding: f})
}

func newCountry(at time.Time) analytics.Finding {
	return analytics.Finding{Detector: analytics.NewLocation, Reason: analytics.NewCountry, At: at, Actionable: true,
		Message: "Used from NZ (203.0.113.0/24), never seen in 30 days of use (seen: DE, FR)."}
}

func anomalousCondition(g Gomega, key *keywardv1.APIKey) (*keywardv1.APIKey, *metav1.Condition) {
	got := &keywardv1.APIKey{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
	c := meta.FindStatusCondition(got.Status.Conditions, keywardv1.AnomalousCondition)
	g.Expect(c).NotTo(BeNil())
	return got, c
}

// anomalyEventsTo are the anomaly CloudEvents the sink received about a
// key, one per id: CloudEvents consumers take a repeat of an id (a sending
// whose status write failed) for the same event.
func anomalyEventsTo(keyID, owner string) []map[string]any {
	var out []map[string]any
	seen := map[any]bool{}
	for _, ev := range sink.About(owner + "/" + keyID) {
		if ev["type"] == notify.AnomalousType && !seen[ev["id"]] {
			seen[ev["id"]] = true
			out = append(out, ev)
		}
	}
	return out
}

// distinct are the different messages of a key's Events of one reason.
func distinct(g Gomega, key *keywardv1.APIKey, reason string) []string {
	var out []string
	for _, m := range eventsFor(g, key)[reason] {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// A finding under Suspend suspends the key until a person acknowledges
// that finding by its id: an annotation set before it (a guess), an
// edited status.anomaly and an old finding's id lift nothing. The same
// finding reported again after its acknowledgement stays acknowledged.
func TestAFindingUnderSuspendHoldsUntilAPersonAcknowledgesThatFinding(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := anomalyNamespace(t, g, keywardv1.AnomalyResponse{NewLocation: action(keywardv1.AnomalySuspend)})
	key := createReady(g, newAPIKey(ns, "travelling", func(k *keywardv1.APIKey) {
		k.Annotations = map[string]string{keywardv1.AcknowledgeAnomalyAnnotation: "0123456789abcdef"}
	}))
	deleteAtEnd(t, key)
	plain := deliveredPlaintext(g, key)

	first := newCountry(apiKeyClock.Now().Add(-time.Minute).Truncate(time.Minute))
	report(key, first)
	reported := time.Now()
	g.Eventually(func(g Gomega) {
		g.Expect(recordFor(g, key.Status.KeyID).State).To(Equal(record.Suspended))
	}).WithTimeout(time.Second).WithPolling(10*time.Millisecond).Should(Succeed(), "the record denies the key within a second")
	t.Logf("the key record was suspended %v after the finding was reported", time.Since(reported).Round(time.Millisecond))

	got := waitFor(g, key, keywardv1.SuspendedByDetectorReason)
	st := got.Status.Anomaly
	g.Expect(st).NotTo(BeNil())
	g.Expect(st.Action).To(Equal(keywardv1.AnomalySuspend))
	g.Expect(st.Detector).To(Equal("NewLocation"))
	g.Expect(st.Reason).To(Equal(keywardv1.NewCountryReason))
	g.Expect(st.ID).To(MatchRegexp(`^[0-9a-f]{16}$`))
	g.Expect(st.ID).NotTo(Equal("0123456789abcdef"))
	ready := meta.FindStatusCondition(got.Status.Conditions, keywardv1.ReadyCondition)
	g.Expect(ready.Message).To(ContainSubstring("suspended by the NewLocation detector"))
	g.Expect(ready.Message).To(ContainSubstring("set the annotation keyward.dev/acknowledge-anomaly=" + st.ID))
	_, c := anomalousCondition(g, key)
	g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(c.Reason).To(Equal(keywardv1.NewCountryReason))
	g.Expect(c.Message).To(ContainSubstring("Used from NZ"))
	g.Expect(c.Message).To(ContainSubstring("keyward.dev/acknowledge-anomaly=" + st.ID))
	g.Expect(recordFor(g, key.Status.KeyID).Ledger.Anomaly.ID).To(Equal(st.ID), "the ledger holds the finding")
	g.Eventually(func(g Gomega) {
		g.Expect(anomalyEventsTo(key.Status.KeyID, key.Spec.Owner)).To(HaveLen(1))
		g.Expect(eventCount(g, key, keywardv1.KeyAnomalousReason)).To(Equal(1))
	}).WithTimeout(timeout).Should(Succeed())
	ev := anomalyEventsTo(key.Status.KeyID, key.Spec.Owner)[0]
	g.Expect(ev["id"]).To(Equal("anomaly-" + st.ID))
	t.Logf("CloudEvent received by the sink: %s", ev["_raw"])
	data := ev["data"].(map[string]any)
	g.Expect(data).To(HaveKeyWithValue("keyID", key.Status.KeyID))
	g.Expect(data).To(HaveKeyWithValue("owner", key.Spec.Owner))
	g.Expect(data).To(HaveKeyWithValue("detector", "NewLocation"))
	g.Expect(data).To(HaveKeyWithValue("reason", "NewCountry"))
	g.Expect(data).To(HaveKeyWithValue("action", "Suspend"))
	g.Expect(data["message"]).To(ContainSubstring("Used from NZ"))
	g.Expect(ev["_raw"]).NotTo(ContainSubstring(plain.String()), "no secret in the event")
	g.Expect(auditFor(key)).To(ContainElement("anomalous"))
	described := kubectlDescribe(g, key)
	t.Logf("$ kubectl describe apikey -n %s %s\n%s", key.Namespace, key.Name, described)
	g.Expect(described).To(ContainSubstring("Reason:                SuspendedByDetector"))
	g.Expect(described).To(ContainSubstring("Warning  KeyAnomalous"))

	// A tenant with status rights removes the finding from status: the
	// ledger puts it back, and the key stays suspended.
	g.Eventually(func(g Gomega) {
		edited := &keywardv1.APIKey{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(key), edited)).To(Succeed())
		edited.Status.Anomaly = nil
		meta.RemoveStatusCondition(&edited.Status.Conditions, keywardv1.AnomalousCondition)
		g.Expect(k8s.Status().Update(ctx, edited)).To(Succeed())
	}).WithTimeout(timeout).Should(Succeed())
	g.Eventually(func(g Gomega) {
		back, c := anomalousCondition(g, key)
		g.Expect(back.Status.Anomaly).NotTo(BeNil())
		g.Expect(back.Status.Anomaly.ID).To(Equal(st.ID))
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
	}).WithTimeout(timeout).Should(Succeed())
	g.Expect(recordFor(g, key.Status.KeyID).State).To(Equal(record.Suspended))
	waitFor(g, key, keywardv1.SuspendedByDetectorReason)

	// The person acknowledges the finding by its id.
	patchKey(g, key, func(k *keywardv1.APIKey) { k.Annotations[keywardv1.AcknowledgeAnomalyAnnotation] = st.ID })
	got = waitFor(g, key, keywardv1.KeyReadyReason)
	g.Expect(got.Status.Anomaly).To(BeNil())
	_, c = anomalousCondition(g, key)
	g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(c.Reason).To(Equal(keywardv1.AnomalyAcknowledgedReason))
	g.Expect(recordFor(g, key.Status.KeyID).State).To(Equal(record.Active))
	g.Eventually(func(g Gomega) {
		g.Expect(eventCount(g, key, keywardv1.AnomalyAcknowledgedReason)).To(Equal(1))
		g.Expect(auditFor(key)).To(ContainElement("anomaly_acknowledged"))
	}).WithTimeout(timeout).Should(Succeed())

	// The same finding again is no new finding; a later one suspends the
	// key again, and the annotation, still naming the first, does not
	// lift it.
	report(key, first)
	g.Eventually(func(g Gomega) { g.Expect(peek(key.Status.KeyID)).To(BeFalse()) }).WithTimeout(timeout).Should(Succeed())
	second := newCountry(first.At.Add(time.Minute))
	second.Message = "Used from BR (198.51.100.0/24), never seen in 30 days of use (seen: DE, FR, NZ)."
	report(key, second)
	got = waitFor(g, key, keywardv1.SuspendedByDetectorReason)
	g.Expect(got.Status.Anomaly.ID).NotTo(Equal(st.ID))
	g.Expect(got.Status.Anomaly.Message).To(ContainSubstring("BR"))
	g.Expect(got.Annotations[keywardv1.AcknowledgeAnomalyAnnotation]).To(Equal(st.ID))
	g.Expect(recordFor(g, key.Status.KeyID).State).To(Equal(record.Suspended))
	g.Eventually(func(g Gomega) {
		// The first finding, then the second: the repeat of the first is
		// no finding. (The status edit above may have had the first
		// announced again, under the same CloudEvent id.)
		g.Expect(distinct(g, key, keywardv1.KeyAnomalousReason)).To(HaveLen(2))
		g.Expect(anomalyEventsTo(key.Status.KeyID, key.Spec.Owner)).To(HaveLen(2))
	}).WithTimeout(timeout).Should(Succeed())
}

// kubectlDescribe is `kubectl describe apikey` as an administrator sees it.
func kubectlDescribe(g Gomega, key *keywardv1.APIKey) string {
	user, err := testEnv.ControlPlane.AddUser(envtest.User{Name: "platform-engineer", Groups: []string{"system:masters"}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	kubectl, err := user.Kubectl()
	g.Expect(err).NotTo(HaveOccurred())
	stdout, stderr, err := kubectl.Run("describe", "apikey", "-n", key.Namespace, key.Name)
	out, _ := io.ReadAll(stdout)
	errOut, _ := io.ReadAll(stderr)
	g.Expect(err).NotTo(HaveOccurred(), string(errOut))
	return string(out)
}

func peek(keyID string) bool {
	b := reconciler.Anomalies
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.pending[keyID]
	return ok
}

// Revoke is for good: the record becomes a tombstone.
func TestAFindingUnderRevokeRevokesTheKey(t *testing.T) {
	g := NewWithT(t)
	ns := anomalyNamespace(t, g, keywardv1.AnomalyResponse{Volume: action(keywardv1.AnomalyRevoke)})
	key := createReady(g, newAPIKey(ns, "bursting"))
	deleteAtEnd(t, key)
	report(key, analytics.Finding{Detector: analytics.Volume, Reason: analytics.VolumeSpike, At: apiKeyClock.Now().Truncate(time.Minute), Actionable: true,
		Message: "1,240 requests in the last hour against a baseline of 35 for this hour of the day."})
	g.Eventually(func(g Gomega) {
		g.Expect(recordFor(g, key.Status.KeyID).State).To(Equal(record.Revoked))
	}).WithTimeout(time.Second).WithPolling(10 * time.Millisecond).Should(Succeed())
	got := waitFor(g, key, keywardv1.RevokedByDetectorReason)
	g.Expect(got.Status.RevokedTime).NotTo(BeNil())
	g.Expect(got.Status.Anomaly.Action).To(Equal(keywardv1.AnomalyRevoke))
	_, c := anomalousCondition(g, key)
	g.Expect(c.Reason).To(Equal(keywardv1.VolumeSpikeReason))
	g.Expect(c.Message).To(ContainSubstring("revoked the key for good"))
	g.Eventually(func(g Gomega) {
		g.Expect(eventCount(g, key, keywardv1.KeyAnomalousReason)).To(Equal(1))
		g.Expect(anomalyEventsTo(got.Status.KeyID, got.Spec.Owner)).To(HaveLen(1))
	}).WithTimeout(timeout).Should(Succeed())
}

// The detectors' messages end without a full stop; what keyward says after
// one starts a sentence of its own.
func TestAnAnomalyMessageIsSentences(t *testing.T) {
	g := NewWithT(t)
	a := &record.Anomaly{ID: "0123456789abcdef", Detector: "Silence", Reason: "FellSilent", Action: "Suspend", ActionBy: "Silence",
		Message: "No verified request since 2026-12-06 22:06 UTC (6h1m0s ago); its baseline expected about 358 in that time"}
	g.Expect(anomalyMessage("15a6/k3ydqx2mzt4wbnpe", a)).To(ContainSubstring("in that time. keyward suspended the key"))
	a.Message += "."
	g.Expect(anomalyMessage("15a6/k3ydqx2mzt4wbnpe", a)).To(ContainSubstring("in that time. keyward suspended the key"))
}

// A detector's revocation whose status write does not land (the usage
// aggregator writes status.usage of the same key in the pass that found
// it, and the two race) still names the detector and shows the finding:
// the tombstone keeps the finding that revoked the key.
func TestARevocationByADetectorSurvivesALostStatusWrite(t *testing.T) {
	g := NewWithT(t)
	ns := anomalyNamespace(t, g, keywardv1.AnomalyResponse{Volume: action(keywardv1.AnomalyRevoke)})
	key := createReady(g, newAPIKey(ns, "raced"))
	deleteAtEnd(t, key)
	tombstone := verifierNamespace + "/" + record.SecretName(key.Status.KeyID)
	var once sync.Once
	lost := false
	writes.setAfterWrite(func(_ string, obj any) error {
		var err error
		if strings.HasSuffix(describe(obj), " "+tombstone) {
			once.Do(func() { lost, err = true, errors.New("the reconcile ends before its status write") })
		}
		return err
	})
	t.Cleanup(func() { writes.setAfterWrite(nil) })
	report(key, analytics.Finding{Detector: analytics.Volume, Reason: analytics.VolumeSpike, At: apiKeyClock.Now().Truncate(time.Minute), Actionable: true,
		Message: "1,240 requests in the last hour against a baseline of 35 for this hour of the day."})
	got := waitFor(g, key, keywardv1.RevokedByDetectorReason)
	g.Expect(lost).To(BeTrue(), "the first write of the tombstone was followed by a failure")
	g.Expect(recordFor(g, key.Status.KeyID).State).To(Equal(record.Revoked))
	g.Expect(got.Status.Anomaly).NotTo(BeNil())
	g.Expect(got.Status.Anomaly.Action).To(Equal(keywardv1.AnomalyRevoke))
	revoked := meta.FindStatusCondition(got.Status.Conditions, keywardv1.RevokedCondition)
	g.Expect(revoked.Reason).To(Equal(keywardv1.RevokedByDetectorReason))
	_, c := anomalousCondition(g, key)
	g.Expect(c.Reason).To(Equal(keywardv1.VolumeSpikeReason))
	g.Eventually(func(g Gomega) {
		g.Expect(eventCount(g, key, keywardv1.KeyAnomalousReason)).To(Equal(1))
	}).WithTimeout(timeout).Should(Succeed())
}

// Anyone who knows a key ID can make its unverified denials spike: such a
// finding alerts, whatever the policy says.
func TestAFindingAnyoneCouldCauseOnlyAlerts(t *testing.T) {
	g := NewWithT(t)
	ns := anomalyNamespace(t, g, keywardv1.AnomalyResponse{Denials: action(keywardv1.AnomalySuspend)})
	key := createReady(g, newAPIKey(ns, "guessed"))
	deleteAtEnd(t, key)
	report(key, analytics.Finding{Detector: analytics.Denials, Reason: analytics.DenialSpike, At: apiKeyClock.Now().Truncate(time.Minute), Actionable: false,
		Message: "412 denials (invalid_secret) in a minute against a usual 0."})
	g.Eventually(func(g Gomega) {
		got, c := anomalousCondition(g, key)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Reason).To(Equal(keywardv1.DenialSpikeReason))
		g.Expect(c.Message).To(ContainSubstring("Only an alert, whatever the policy says"))
		g.Expect(got.Status.Anomaly.Action).To(Equal(keywardv1.AnomalyAlert))
		g.Expect(got.Status.Anomaly.NotActionable).To(BeTrue())
	}).WithTimeout(timeout).Should(Succeed())
	waitFor(g, key, keywardv1.KeyReadyReason)
	g.Expect(recordFor(g, key.Status.KeyID).State).To(Equal(record.Active))
}

// An alert past its lifetime that no reconcile has cleared yet holds back
// no finding, however weak: the new one is current.
func TestAnExpiredAlertHoldsBackNoFinding(t *testing.T) {
	g := NewWithT(t)
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	r := &APIKeyReconciler{Anomalies: newAnomalyInbox(1)}
	key := &keywardv1.APIKey{Spec: keywardv1.APIKeySpec{Owner: "15a6"}, Status: keywardv1.APIKeyStatus{KeyID: "k"}}
	s := newAPIKeyState(key, at.Add(AnomalyAlertLifetime+time.Minute))
	s.state = record.Active
	s.want = &record.Record{Ledger: &record.Ledger{}}
	g.Expect(s.recordFinding(s.want.Ledger, newCountry(at))).To(Succeed())
	r.Anomalies.Report(analytics.KeyFinding{KeyID: "k", Finding: probedDenials(s.now.Add(-time.Minute))})
	res, err := r.applyAnomaly(context.Background(), s)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.anomaly).NotTo(BeNil())
	g.Expect(s.anomaly.Reason).To(Equal("DenialSpike"))
	g.Expect(res.RequeueAfter).To(Equal(AnomalyAlertLifetime - time.Minute))
}

// Without any policy a finding alerts; an alert clears on its own a day
// later. A detector the key silences (Ignore) finds nothing.
func TestAnAlertClearsAfterADayAndAnIgnoredDetectorIsSilent(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "quiet", func(k *keywardv1.APIKey) {
		k.Spec.AnomalyResponse = &keywardv1.AnomalyResponse{Silence: action(keywardv1.AnomalyIgnore)}
	}))
	deleteAtEnd(t, key)
	report(key, analytics.Finding{Detector: analytics.Silence, Reason: analytics.FellSilent, At: apiKeyClock.Now(), Actionable: true, Message: "No request for 6h."})
	g.Eventually(func(g Gomega) { g.Expect(peek(key.Status.KeyID)).To(BeFalse()) }).WithTimeout(timeout).Should(Succeed())
	report(key, newCountry(apiKeyClock.Now()))
	g.Eventually(func(g Gomega) {
		got, c := anomalousCondition(g, key)
		g.Expect(c.Reason).To(Equal(keywardv1.NewCountryReason))
		g.Expect(got.Status.Anomaly.Action).To(Equal(keywardv1.AnomalyAlert))
		g.Expect(c.Message).To(ContainSubstring("The key keeps working"))
		g.Expect(eventCount(g, key, keywardv1.KeyAnomalousReason)).To(Equal(1), "the ignored Silence finding made none")
	}).WithTimeout(timeout).Should(Succeed())
	waitFor(g, key, keywardv1.KeyReadyReason)

	advance(g, AnomalyAlertLifetime+time.Second, key)
	g.Eventually(func(g Gomega) {
		got, c := anomalousCondition(g, key)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(keywardv1.NoAnomalyReason))
		g.Expect(got.Status.Anomaly).To(BeNil())
	}).WithTimeout(timeout).Should(Succeed())
}

// A thief uses the key from a new country and, in the same minute, sends
// wrong secrets naming its key ID: both findings reach the reconcile
// together, the policy's Suspend happens, and status and the ledger keep
// the new country, with the denial spike noted beside it.
func TestAnActionableFindingAndADenialSpikeOfOnePassSuspendTheKeyForTheActionableOne(t *testing.T) {
	g := NewWithT(t)
	ns := anomalyNamespace(t, g, keywardv1.AnomalyResponse{NewLocation: action(keywardv1.AnomalySuspend)})
	key := createReady(g, newAPIKey(ns, "stolen"))
	deleteAtEnd(t, key)
	at := apiKeyClock.Now().Truncate(time.Minute)
	reportTogether(key, newCountry(at), probedDenials(at))
	got := waitFor(g, key, keywardv1.SuspendedByDetectorReason)
	g.Expect(got.Status.Anomaly.Detector).To(Equal("NewLocation"))
	g.Expect(got.Status.Anomaly.Reason).To(Equal(keywardv1.NewCountryReason))
	g.Expect(got.Status.Anomaly.Action).To(Equal(keywardv1.AnomalySuspend))
	g.Expect(got.Status.Anomaly.NotActionable).To(BeFalse())
	rec := recordFor(g, key.Status.KeyID)
	g.Expect(rec.State).To(Equal(record.Suspended))
	g.Expect(rec.Ledger.Anomaly.Reason).To(Equal("NewCountry"))
	g.Expect(rec.Ledger.Anomaly.ID).To(Equal(got.Status.Anomaly.ID))
	g.Expect(rec.Ledger.Anomaly.Later).To(Equal(1), "the denial spike is noted")
	g.Expect(rec.Ledger.Anomaly.LastLater.Reason).To(Equal("DenialSpike"))
}

// A later finding that anyone knowing the key ID could cause, or a
// milder one, changes nothing of the current finding: not its id (an
// acknowledgement prepared for it still lifts it), nor its detector,
// reason or message. It is noted, as a count and the last one.
func TestALaterWeakerFindingIsNotedAndTheCurrentOneStays(t *testing.T) {
	g := NewWithT(t)
	ns := anomalyNamespace(t, g, keywardv1.AnomalyResponse{NewLocation: action(keywardv1.AnomalySuspend), Denials: action(keywardv1.AnomalySuspend)})
	key := createReady(g, newAPIKey(ns, "noted"))
	deleteAtEnd(t, key)
	at := apiKeyClock.Now().Truncate(time.Minute)
	report(key, newCountry(at))
	first := waitFor(g, key, keywardv1.SuspendedByDetectorReason).Status.Anomaly

	report(key, probedDenials(at.Add(time.Minute)))
	report(key, analytics.Finding{Detector: analytics.Volume, Reason: analytics.VolumeDrop, At: at.Add(2 * time.Minute), Actionable: true, Message: "3 requests in the last hour against 400."})
	g.Eventually(func(g Gomega) {
		g.Expect(recordFor(g, key.Status.KeyID).Ledger.Anomaly.Later).To(Equal(2))
		got, c := anomalousCondition(g, key)
		g.Expect(c.Message).To(ContainSubstring("2 later findings did not replace this one, the last VolumeDrop of the Volume detector"))
		g.Expect(got.Status.Anomaly.ID).To(Equal(first.ID))
		g.Expect(got.Status.Anomaly.Detector).To(Equal(first.Detector))
		g.Expect(got.Status.Anomaly.Reason).To(Equal(first.Reason))
		g.Expect(got.Status.Anomaly.Message).To(Equal(first.Message))
		g.Expect(got.Status.Anomaly.Action).To(Equal(keywardv1.AnomalySuspend))
	}).WithTimeout(timeout).Should(Succeed())
	g.Expect(recordFor(g, key.Status.KeyID).State).To(Equal(record.Suspended))

	// Acknowledged by the id prepared for the first finding, and rotated
	// in one change: the key comes back with a new secret.
	patchKey(g, key, func(k *keywardv1.APIKey) {
		k.Annotations = map[string]string{keywardv1.AcknowledgeAnomalyAnnotation: first.ID, keywardv1.RotateAnnotation: "after-the-finding"}
	})
	g.Eventually(func(g Gomega) {
		now := &keywardv1.APIKey{}
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), now)).To(Succeed())
		g.Expect(meta.FindStatusCondition(now.Status.Conditions, keywardv1.ReadyCondition).Reason).To(Equal(keywardv1.KeyReadyReason))
		g.Expect(now.Status.SecretGeneration).To(Equal(int64(2)))
		g.Expect(now.Status.Anomaly).To(BeNil())
	}).WithTimeout(timeout).Should(Succeed())
	g.Expect(recordFor(g, key.Status.KeyID).State).To(Equal(record.Active))
}

func TestAnAnomalyMessageNamesWhatToDo(t *testing.T) {
	g := NewWithT(t)
	a := &record.Anomaly{ID: "feedfacecafebeef", Detector: "Volume", ActionBy: "Volume", Reason: "VolumeSpike", Message: "1,240 requests in the last hour against 35.", Action: "Alert"}
	g.Expect(anomalyMessage("15a6/abc", a)).To(Equal("The Volume detector flagged key 15a6/abc (VolumeSpike): 1,240 requests in the last hour against 35. " +
		"The key keeps working. To acknowledge, set the annotation keyward.dev/acknowledge-anomaly=feedfacecafebeef; the alert clears on its own after 24 hours."))
	a.Later, a.LastLater = 1, record.LaterFinding{Detector: "Denials", Reason: "DenialSpike", At: time.Date(2026, 12, 6, 10, 1, 0, 0, time.UTC)}
	g.Expect(anomalyMessage("15a6/abc", a)).To(HaveSuffix(" A later finding, DenialSpike of the Denials detector at 2026-12-06T10:01:00Z, did not replace this one."))
	raw, err := json.Marshal(a)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(raw)).To(ContainSubstring(`"actionBy":"Volume"`))
}

// Which findings the ledger takes, without a server.
func TestTheLedgerTakesAStricterFindingAndNotesTheOthers(t *testing.T) {
	g := NewWithT(t)
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	suspendNewLocation := []policy.Rules{{Name: "prod", AnomalyResponse: policy.AnomalyResponse{analytics.NewLocation: policy.AnomalySuspend, analytics.Denials: policy.AnomalySuspend}}}
	state := func(rules []policy.Rules) *apiKeyState {
		return &apiKeyState{state: record.Active, policies: rules}
	}
	country := func(at time.Time) analytics.Finding {
		return analytics.Finding{Detector: analytics.NewLocation, Reason: analytics.NewCountry, At: at, Actionable: true}
	}
	volume := func(at time.Time) analytics.Finding {
		return analytics.Finding{Detector: analytics.Volume, Reason: analytics.VolumeSpike, At: at, Actionable: true}
	}

	s, l := state(suspendNewLocation), &record.Ledger{}
	g.Expect(s.recordFinding(l, country(at))).To(Succeed())
	g.Expect(l.Anomaly.Action).To(Equal("Suspend"))
	first := *l.Anomaly

	g.Expect(s.recordFinding(l, country(at))).To(Succeed())
	g.Expect(*l.Anomaly).To(Equal(first), "the same finding again")

	g.Expect(s.recordFinding(l, probedDenials(at.Add(time.Minute)))).To(Succeed())
	g.Expect(s.recordFinding(l, volume(at.Add(2*time.Minute)))).To(Succeed())
	g.Expect(s.recordFinding(l, volume(at.Add(2*time.Minute)))).To(Succeed())
	noted := first
	noted.Later = 2
	noted.LastLater = record.LaterFinding{Fingerprint: "Volume/VolumeSpike/" + strconv.FormatInt(at.Add(2*time.Minute).Unix(), 10),
		Detector: "Volume", Reason: "VolumeSpike", At: at.Add(2 * time.Minute)}
	g.Expect(*l.Anomaly).To(Equal(noted), "newer but weaker: noted once each, the current finding unchanged")

	s.policies = append(s.policies, policy.Rules{AnomalyResponse: policy.AnomalyResponse{analytics.Volume: policy.AnomalyRevoke}})
	g.Expect(s.recordFinding(l, volume(at.Add(-time.Minute)))).To(Succeed())
	g.Expect(l.Anomaly.Action).To(Equal("Revoke"), "stricter, however old")
	g.Expect(l.Anomaly.ActionBy).To(Equal("Volume"))
	g.Expect(l.Anomaly.Later).To(BeZero())
	g.Expect(l.Anomaly.ID).NotTo(Equal(first.ID))

	s, l = state(nil), &record.Ledger{}
	g.Expect(s.recordFinding(l, probedDenials(at))).To(Succeed())
	g.Expect(l.Anomaly.NotActionable).To(BeTrue(), "whatever the policy")
	g.Expect(s.recordFinding(l, volume(at.Add(-time.Minute)))).To(Succeed())
	g.Expect(l.Anomaly.Reason).To(Equal("VolumeSpike"), "an alert only the key's holder could cause replaces one anyone could")
	g.Expect(s.recordFinding(l, probedDenials(at.Add(time.Hour)))).To(Succeed())
	g.Expect(l.Anomaly.Reason).To(Equal("VolumeSpike"), "never the other way round")
	g.Expect(s.recordFinding(l, volume(at.Add(-2*time.Minute)))).To(Succeed())
	g.Expect(l.Anomaly.At).To(Equal(at.Add(-time.Minute)), "an older alert does not replace a newer one")
	g.Expect(s.recordFinding(l, country(at))).To(Succeed())
	g.Expect(l.Anomaly.Reason).To(Equal("NewCountry"), "a newer alert replaces an alert, with its own notification")

	l = &record.Ledger{AcknowledgedAnomaly: "NewLocation/NewCountry/" + strconv.FormatInt(at.Unix(), 10)}
	g.Expect(s.recordFinding(l, country(at))).To(Succeed())
	g.Expect(l.Anomaly).To(BeNil(), "acknowledged before")

	s, l = state([]policy.Rules{{AnomalyResponse: policy.AnomalyResponse{analytics.Volume: policy.AnomalyIgnore}}}), &record.Ledger{}
	g.Expect(s.recordFinding(l, volume(at))).To(Succeed())
	g.Expect(l.Anomaly).To(BeNil(), "ignored")

	s, l = state(suspendNewLocation), &record.Ledger{}
	s.state = record.Expired
	g.Expect(s.recordFinding(l, country(at))).To(Succeed())
	g.Expect(l.Anomaly).To(BeNil(), "an expired key")
}

func TestAStatusMessageIsCutBetweenCharacters(t *testing.T) {
	g := NewWithT(t)
	g.Expect(truncate("Zürich", 2)).To(Equal("Z"))
	g.Expect(truncate("Zürich", 3)).To(Equal("Zü"))
	g.Expect(truncate("ok", 1024)).To(Equal("ok"))
}

// The action is decided when the finding is recorded: a tenant who then
// sets the detector to Ignore (or resumes the key through spec) does not
// lift the suspension.
func TestSilencingADetectorAfterItsFindingLiftsNothing(t *testing.T) {
	g := NewWithT(t)
	key := createReady(g, newAPIKey(newNamespace(t), "own-rules", func(k *keywardv1.APIKey) {
		k.Spec.AnomalyResponse = &keywardv1.AnomalyResponse{NewLocation: action(keywardv1.AnomalySuspend)}
	}))
	deleteAtEnd(t, key)
	report(key, newCountry(apiKeyClock.Now().Truncate(time.Minute)))
	waitFor(g, key, keywardv1.SuspendedByDetectorReason)
	patchKey(g, key, func(k *keywardv1.APIKey) {
		k.Spec.AnomalyResponse.NewLocation = action(keywardv1.AnomalyIgnore)
		k.Spec.Suspended = false
	})
	got := waitFor(g, key, keywardv1.SuspendedByDetectorReason)
	g.Expect(got.Generation).To(BeNumerically(">", 1))
	g.Expect(recordFor(g, key.Status.KeyID).State).To(Equal(record.Suspended))
}
