package controllers

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/usage"
	"github.com/keyward-dev/keyward/verifier"
)

func withQuota(credits int64) func(*keywardv1.APIKey) {
	return func(k *keywardv1.APIKey) {
		k.Spec.RateLimit = &keywardv1.RateLimit{Quota: &keywardv1.Quota{Credits: credits, Refill: keywardv1.Daily}}
	}
}

func quotaOf(g Gomega, key *keywardv1.APIKey) *keywardv1.QuotaStatus {
	got := &keywardv1.APIKey{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
	return got.Status.Quota
}

// usageSnapshot is what a verifier's rate limiter would return.
type usageSnapshot struct {
	mu    sync.Mutex
	usage []verifier.QuotaUsage
}

func (s *usageSnapshot) set(u ...verifier.QuotaUsage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usage = u
}

func (s *usageSnapshot) get() []verifier.QuotaUsage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage
}

// The manager's present is apiKeyClock's; the reporter's clock only paces
// its reports and stamps them, so it starts an hour back to leave room for
// a later report from another replica.
func TestVerifierUsageReachesStatusQuota(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	now := apiKeyClock.Now().UTC().Truncate(time.Second)
	reset := ratelimit.QuotaPeriodEnd(ratelimit.Daily, time.UTC, now)
	lastPeriod := reset.AddDate(0, 0, -1)

	spender := createReady(g, newAPIKey(ns, "spender", withQuota(100)))
	other := createReady(g, newAPIKey(ns, "other", withQuota(100)))
	idle := createReady(g, newAPIKey(ns, "idle", withQuota(100)))
	unlimited := createReady(g, newAPIKey(ns, "unlimited"))
	for _, k := range []*keywardv1.APIKey{spender, other, idle, unlimited} {
		deleteAtEnd(t, k)
	}

	cs, err := kubernetes.NewForConfig(testEnv.Config)
	g.Expect(err).NotTo(HaveOccurred())
	clk := clocktesting.NewFakeClock(now.Add(-time.Hour))
	snap := &usageSnapshot{}
	snap.set(
		verifier.QuotaUsage{KeyID: spender.Status.KeyID, Used: 30, Remaining: 70, ResetAt: reset},
		// A key without a quota has no status.quota, whatever a verifier says.
		verifier.QuotaUsage{KeyID: unlimited.Status.KeyID, Used: 1, Remaining: 1, ResetAt: reset},
	)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = (&verifier.UsageReporter{
			Client: cs, Namespace: verifierNamespace, Replica: ns + "-r1",
			Snapshot: snap.get, Interval: time.Second, Clock: clk,
		}).Run(runCtx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	step := func() {
		g.Eventually(clk.HasWaiters).WithTimeout(timeout).WithPolling(interval).Should(BeTrue())
		clk.Step(time.Second)
	}

	step()
	g.Eventually(func(g Gomega) {
		q := quotaOf(g, spender)
		g.Expect(q).NotTo(BeNil())
		g.Expect(q.Used).To(Equal(int64(30)))
		g.Expect(q.Remaining).To(Equal(int64(70)))
		g.Expect(q.ResetTime.Time).To(BeTemporally("==", reset))
		g.Expect(q.ReportedTime.Time).To(BeTemporally("==", now.Add(-time.Hour+time.Second)))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

	// Another replica reports later, but for the previous period for two
	// keys: a period that is over says nothing about the current one.
	r2, err := usage.Encode(usage.Report{ReportedAt: now, Keys: map[string]usage.Entry{
		spender.Status.KeyID: {Used: 99, Remaining: 1, ResetAt: lastPeriod},
		idle.Status.KeyID:    {Used: 99, Remaining: 1, ResetAt: lastPeriod},
		other.Status.KeyID:   {Used: 5, Remaining: 95, ResetAt: reset},
	}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8s.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: usage.NamePrefix + ns + "-r2", Labels: map[string]string{usage.Label: "true", record.VerifierReportLabel: "true"}},
		Data:       map[string]string{usage.DataKey: string(r2)},
	})).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(quotaOf(g, other)).To(HaveField("Used", int64(5)))
		// The idle key's last report is from a finished period: its
		// credits are whole again until a verifier counts anew.
		q := quotaOf(g, idle)
		g.Expect(q).NotTo(BeNil())
		g.Expect(q.Used).To(Equal(int64(0)))
		g.Expect(q.Remaining).To(Equal(int64(100)))
		g.Expect(q.ResetTime.Time).To(BeTemporally("==", reset))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

	// The reconcile that shows 40 saw the second replica's report too
	// (the cache delivers in order), and kept to the current period.
	snap.set(verifier.QuotaUsage{KeyID: spender.Status.KeyID, Used: 40, Remaining: 60, ResetAt: reset})
	step()
	g.Eventually(func(g Gomega) {
		g.Expect(quotaOf(g, spender)).To(And(HaveField("Used", int64(40)), HaveField("Remaining", int64(60))))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(quotaOf(g, unlimited)).To(BeNil())
	g.Expect(eventCount(g, spender, keywardv1.QuotaExhaustedReason)).To(BeZero())

	snap.set(verifier.QuotaUsage{KeyID: spender.Status.KeyID, Used: 100, Remaining: 0, ResetAt: reset})
	step()
	g.Eventually(func(g Gomega) {
		g.Expect(quotaOf(g, spender)).To(HaveField("Remaining", int64(0)))
		g.Expect(eventCount(g, spender, keywardv1.QuotaExhaustedReason)).To(Equal(1))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

	patchKey(g, spender, func(k *keywardv1.APIKey) { k.Spec.RateLimit = nil })
	g.Eventually(func(g Gomega) {
		g.Expect(quotaOf(g, spender)).To(BeNil())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(eventCount(g, spender, keywardv1.QuotaExhaustedReason)).To(Equal(1))
}
