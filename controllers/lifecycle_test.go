package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

func TestScheduledRotationKeepsBothSecretsThroughTheGracePeriod(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "rotating", func(k *keywardv1.APIKey) {
		k.Spec.Rotation = &keywardv1.Rotation{IntervalSeconds: ptr.To[int64](6), GracePeriodSeconds: ptr.To[int64](4)}
	}))
	deleteAtEnd(t, key)
	first := deliveredPlaintext(g, key)
	g.Expect(key.Status.NextRotationTime).NotTo(BeNil())
	g.Expect(key.Status.NextRotationTime.Time).To(BeTemporally("~", key.Status.IssuedTime.Add(6*time.Second), time.Second))

	// Warned before, then rotated: the new key is current, the old one is
	// previousKey, and the verifier's view accepts both.
	advance(g, 6*time.Second-testWarnBefore, key)
	g.Eventually(func(g Gomega) {
		got := &keywardv1.APIKey{}
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
		g.Expect(meta.FindStatusCondition(got.Status.Conditions, keywardv1.ExpiringCondition)).To(
			HaveField("Reason", keywardv1.RotationDueSoonReason))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	advance(g, testWarnBefore, key)
	var second keys.Key
	g.Eventually(func(g Gomega) {
		prev, ok := deliveredField(g, key, DeliveryPreviousKeyField)
		g.Expect(ok).To(BeTrue())
		g.Expect(prev.Equal(first)).To(BeTrue())
		second = deliveredPlaintext(g, key)
		g.Expect(second.Equal(first)).To(BeFalse())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	rec := recordFor(g, key.Status.KeyID)
	now := apiKeyClock.Now()
	g.Expect(verifierAccepts(rec, second, now)).To(BeTrue(), "the new secret verifies")
	g.Expect(verifierAccepts(rec, first, now)).To(BeTrue(), "the previous secret verifies during the grace period")
	g.Expect(second.ID()).To(Equal(first.ID()))

	rotating := &keywardv1.APIKey{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), rotating)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(rotating.Status.Conditions, keywardv1.RotatingCondition)).To(BeTrue())
		// The promotion is written: the delivery Secret changes before the
		// record, and a record write retried after the clock below moved
		// would start the grace period then, as a crash in between would.
		rec := recordFor(g, key.Status.KeyID)
		g.Expect(rec.Ledger).NotTo(BeNil())
		prev, ok := rec.BySerial(rec.Ledger.Previous)
		g.Expect(ok).To(BeTrue(), "the record holds the previous secret")
		g.Expect(prev.NotAfter).NotTo(BeNil(), "the record dates the end of the grace period")
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(rotating.Status.LastRotationTime).NotTo(BeNil())
	g.Expect(rotating.Status.PreviousSecretValidUntil.Time).To(BeTemporally("~", rotating.Status.LastRotationTime.Add(4*time.Second), time.Second))

	// After the grace period only the new secret verifies, and the old
	// plaintext has left the delivery Secret.
	advance(g, 4*time.Second, key)
	g.Eventually(func(g Gomega) {
		_, ok := deliveredField(g, key, DeliveryPreviousKeyField)
		g.Expect(ok).To(BeFalse())
		rec := recordFor(g, key.Status.KeyID)
		g.Expect(verifierAccepts(rec, first, apiKeyClock.Now())).To(BeFalse())
		g.Expect(verifierAccepts(rec, deliveredPlaintext(g, key), apiKeyClock.Now())).To(BeTrue())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

	g.Eventually(func(g Gomega) {
		ev := eventsFor(g, key)
		g.Expect(ev).To(HaveKey(keywardv1.RotationDueSoonReason))
		g.Expect(ev).To(HaveKeyWithValue(keywardv1.RotatedReason, ContainElement(ContainSubstring("(scheduled)"))))
		g.Expect(ev).To(HaveKey(keywardv1.GraceEndedReason))
		g.Expect(sink.About(key.Status.Prefix)).To(ContainElement(HaveKeyWithValue("type", "dev.keyward.apikey.rotation.due")))
		g.Expect(auditFor(key)).To(ContainElements("created", "rotated", "grace_ended"))
	}).WithTimeout(timeout).Should(Succeed())
	for _, ev := range sink.About(key.Status.Prefix) {
		g.Expect(ev["_raw"]).NotTo(ContainSubstring(first.Plaintext()))
		g.Expect(ev["_raw"]).NotTo(ContainSubstring(second.Plaintext()))
	}
}

func TestOnDemandRotationHappensOncePerRequest(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "on-demand", func(k *keywardv1.APIKey) {
		k.Spec.Rotation = &keywardv1.Rotation{Trigger: "2026-11-01", GracePeriodSeconds: ptr.To[int64](3600)}
	}))
	first := deliveredPlaintext(g, key)
	g.Expect(eventsFor(g, key)).NotTo(HaveKey(keywardv1.RotatedReason), "the trigger's first value rotates nothing")

	rotatedTo := func(prev keys.Key) keys.Key {
		var cur keys.Key
		g.Eventually(func(g Gomega) {
			p, ok := deliveredField(g, key, DeliveryPreviousKeyField)
			g.Expect(ok).To(BeTrue())
			g.Expect(p.Equal(prev)).To(BeTrue())
			cur = deliveredPlaintext(g, key)
			g.Expect(cur.Equal(prev)).To(BeFalse())
			g.Expect(verifierAccepts(recordFor(g, key.Status.KeyID), cur, apiKeyClock.Now())).To(BeTrue())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		waitFor(g, key, keywardv1.KeyReadyReason)
		return cur
	}
	// steady proves that nothing rotates again: repeated applies, the
	// manager's own reconciles, and a second manager starting from nothing
	// (as after a restart or a leader change) that resyncs every key.
	steady := func(cur keys.Key) {
		patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.Description = "re-applied " + time.Now().String() })
		waitFor(g, key, keywardv1.KeyReadyReason)
		restarted := startSecondManager(t, g)
		for range 3 {
			_, err := restarted.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(key)})
			g.Expect(err).NotTo(HaveOccurred())
		}
		g.Expect(deliveredPlaintext(g, key).Equal(cur)).To(BeTrue())
	}
	patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.Rotation.Trigger = "2026-11-22" })
	second := rotatedTo(first)
	steady(second)
	patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.Rotation.Trigger = "2026-11-22" })
	steady(second)

	patchKey(g, key, func(k *keywardv1.APIKey) {
		k.Annotations = map[string]string{keywardv1.RotateAnnotation: "1"}
	})
	third := rotatedTo(second)
	steady(third)
	patchKey(g, key, func(k *keywardv1.APIKey) {
		k.Annotations = map[string]string{keywardv1.RotateAnnotation: "1", "unrelated": "x"}
	})
	steady(third)

	g.Eventually(func(g Gomega) {
		g.Expect(eventCount(g, key, keywardv1.RotatedReason)).To(Equal(2))
	}).WithTimeout(timeout).Should(Succeed())
	g.Expect(eventsFor(g, key)[keywardv1.RotatedReason]).To(ConsistOf(
		ContainSubstring("spec.rotation.trigger changed"), ContainSubstring("annotation keyward.dev/rotate changed")))
	g.Expect(deliveredPlaintext(g, key).Equal(third)).To(BeTrue())
	g.Expect(waitFor(g, key, keywardv1.KeyReadyReason).Status.SecretGeneration).To(Equal(int64(3)))
}

func TestSuspendAndResumeReachTheRecord(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "paused"))
	k := deliveredPlaintext(g, key)

	patchKey(g, key, func(a *keywardv1.APIKey) { a.Spec.Suspended = true })
	waitFor(g, key, keywardv1.SuspendedReason)
	rec := recordFor(g, key.Status.KeyID)
	g.Expect(rec.State).To(Equal(record.Suspended))
	g.Expect(verifierAccepts(rec, k, apiKeyClock.Now())).To(BeFalse())

	patchKey(g, key, func(a *keywardv1.APIKey) { a.Spec.Suspended = false })
	waitFor(g, key, keywardv1.KeyReadyReason)
	rec = recordFor(g, key.Status.KeyID)
	g.Expect(verifierAccepts(rec, k, apiKeyClock.Now())).To(BeTrue(), "resumed with the same secret")
	g.Expect(deliveredPlaintext(g, key).Equal(k)).To(BeTrue())
	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, key)).To(HaveKey(keywardv1.SuspendedReason))
		g.Expect(eventsFor(g, key)).To(HaveKey(keywardv1.ResumedReason))
		g.Expect(auditFor(key)).To(Equal([]string{"created", "suspended", "resumed"}))
	}).WithTimeout(timeout).Should(Succeed())
}

func TestARevokedKeysTombstoneLeavesAfterItsRetention(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "revoked"))
	patchKey(g, key, func(a *keywardv1.APIKey) { a.Spec.Revoked = true })
	revoked := waitFor(g, key, keywardv1.RevokedReason)
	g.Expect(revoked.Status.RevokedTime).NotTo(BeNil())
	tomb := recordFor(g, key.Status.KeyID)
	g.Expect(tomb.State).To(Equal(record.Revoked))
	g.Expect(tomb.RevokedAt.Equal(revoked.Status.RevokedTime.Time)).To(BeTrue())

	recObj := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: record.SecretName(key.Status.KeyID)}}
	advance(g, testRetention)
	sweepTombstone(key.Status.KeyID)
	g.Eventually(gone(recObj)).WithTimeout(timeout).Should(BeTrue())
	// A later reconcile does not bring it back. (It may lose the status's
	// optimistic lock to the manager's own reconcile; the workqueue would
	// repeat it, and so does the test.)
	g.Eventually(func() error {
		_, err := reconciler.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(key)})
		return err
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(gone(recObj)()).To(BeTrue())
	waitFor(g, key, keywardv1.RevokedReason)
	g.Expect(auditFor(key)).To(Equal([]string{"created", "revoked"}))
}

func mustHasher(g *WithT) keys.Hasher {
	h, err := keys.NewHasher(testIterations, true)
	g.Expect(err).NotTo(HaveOccurred())
	return h
}

// startSecondManager starts another manager with an empty cache and a fresh
// reconciler, stopped when the test ends. Its startup resyncs every APIKey.
func startSecondManager(t *testing.T, g *WithT) *APIKeyReconciler {
	mgr, err := ctrl.NewManager(testEnv.Config, ctrl.Options{
		Scheme: testScheme(), Metrics: metricsserver.Options{BindAddress: "0"}, Cache: CacheOptions(verifierNamespace),
	})
	g.Expect(err).NotTo(HaveOccurred())
	second := &APIKeyReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("keyward"),
		Clock: apiKeyClock, Hashes: NewHashPool(mustHasher(g), 1), VerifierNamespace: verifierNamespace, ManagerNamespace: managerNamespace,
		WarnBefore: testWarnBefore, TombstoneRetention: testRetention, DefaultAllow: true,
		// Configured like the first: one that does not deploy the verifier
		// would remove the condition the first sets, turn after turn.
		Verifier: reconciler.Verifier, secondInstance: true,
	}
	g.Expect(second.SetupWithManager(mgr)).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	g.Expect(mgr.GetCache().WaitForCacheSync(ctx)).To(BeTrue())
	return second
}
