package integration

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyward-dev/keyward/internal/usage"
	"github.com/keyward-dev/keyward/verifier"
)

const usageInterval = 10 * time.Second

// usageClient talks to the API server as the verifier's ServiceAccount,
// so that the reporter is held to exactly the Role the manager grants,
// and counts the writes it sends.
func usageClient(g *WithT, writes *atomic.Int32) kubernetes.Interface {
	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: verifierUser}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodPatch && strings.Contains(req.URL.Path, "/configmaps/") {
				writes.Add(1)
			}
			return rt.RoundTrip(req)
		})
	})
	cs, err := kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	return cs
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fakeSnapshot serves what a test sets and counts its calls. The reporter
// reports in one loop, so once call n+1 has happened, report n is done.
type fakeSnapshot struct {
	mu    sync.Mutex
	usage []verifier.QuotaUsage
	calls atomic.Int32
}

func (f *fakeSnapshot) set(u ...verifier.QuotaUsage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.usage = u
}

func (f *fakeSnapshot) Snapshot() []verifier.QuotaUsage {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.usage
}

// tick advances the reporter's clock by one interval and waits until the
// report of that tick is done.
func tick(g *WithT, clk *clocktesting.FakeClock, snap *fakeSnapshot) {
	g.Eventually(clk.HasWaiters).WithTimeout(waitFor).Should(BeTrue())
	want := snap.calls.Load() + 1
	clk.Step(usageInterval)
	g.Eventually(snap.calls.Load).WithTimeout(waitFor).Should(BeNumerically(">=", want))
}

// settle waits until the report of the last tick has finished, by starting
// the next tick's snapshot.
func settle(g *WithT, clk *clocktesting.FakeClock, snap *fakeSnapshot) { tick(g, clk, snap) }

func startReporter(t *testing.T, r *verifier.UsageReporter) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("reporter: %v", err)
		}
	})
}

func usageConfigMap(g Gomega, name string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: verifierNamespace, Name: name}, cm)).To(Succeed())
	return cm
}

func TestAVerifierReportsQuotaUsageWithItsOwnRole(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	reset := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	snap := &fakeSnapshot{}
	snap.set(verifier.QuotaUsage{KeyID: "aaaaaaaaaaaaaaaa", Used: 3, Remaining: 97, ResetAt: reset})
	var writes atomic.Int32
	startReporter(t, &verifier.UsageReporter{
		Client: usageClient(g, &writes), Namespace: verifierNamespace, Replica: "verifier-abc12",
		PodUID: "6f1c1d2e-0000-4000-8000-000000000001", Snapshot: snap.Snapshot, Interval: usageInterval, Clock: clk,
	})

	tick(g, clk, snap)
	// The verifier's Role may be created after the reporter starts (the
	// deployer runs alongside): the next interval tries again.
	var cm *corev1.ConfigMap
	g.Eventually(func(g Gomega) {
		tick(NewWithT(t), clk, snap)
		cm = usageConfigMap(g, "keyward-usage-verifier-abc12")
	}).WithTimeout(waitFor).Should(Succeed())
	g.Expect(cm.Labels).To(HaveKeyWithValue(usage.Label, "true"))
	g.Expect(cm.OwnerReferences).To(ConsistOf(And(
		HaveField("Kind", "Pod"), HaveField("Name", "verifier-abc12"), HaveField("UID", BeEquivalentTo("6f1c1d2e-0000-4000-8000-000000000001")))))
	g.Expect(cm.ManagedFields).To(ContainElement(HaveField("Manager", verifier.UsageFieldOwner)))
	rep, err := usage.Decode([]byte(cm.Data[usage.DataKey]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rep.Keys).To(Equal(map[string]usage.Entry{"aaaaaaaaaaaaaaaa": {Used: 3, Remaining: 97, ResetAt: reset}}))
	written := writes.Load()
	firstReport := rep.ReportedAt

	// Unchanged usage costs the API server nothing.
	tick(g, clk, snap)
	settle(g, clk, snap)
	g.Expect(writes.Load()).To(Equal(written))

	snap.set(verifier.QuotaUsage{KeyID: "aaaaaaaaaaaaaaaa", Used: 4, Remaining: 96, ResetAt: reset})
	tick(g, clk, snap)
	settle(g, clk, snap)
	g.Expect(writes.Load()).To(Equal(written + 1))
	rep, err = usage.Decode([]byte(usageConfigMap(g, "keyward-usage-verifier-abc12").Data[usage.DataKey]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rep.Keys["aaaaaaaaaaaaaaaa"].Used).To(Equal(int64(4)))
	g.Expect(rep.ReportedAt).To(BeTemporally(">", firstReport))
	g.Expect(rep.ReportedAt).To(BeTemporally("<=", clk.Now()))
}

func TestAFailingReportIsLoggedOncePerStreakAndRetried(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	snap := &fakeSnapshot{}
	reset := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	snap.set(verifier.QuotaUsage{KeyID: "aaaaaaaaaaaaaaaa", Used: 1, Remaining: 9, ResetAt: reset})
	var lines []string
	var mu sync.Mutex
	logged := func(s string) func() int {
		return func() int {
			mu.Lock()
			defer mu.Unlock()
			n := 0
			for _, l := range lines {
				if strings.Contains(l, s) {
					n++
				}
			}
			return n
		}
	}
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{})
	cs, err := kubernetes.NewForConfig(restConfig)
	g.Expect(err).NotTo(HaveOccurred())
	// A namespace that does not exist yet: every write fails until it does.
	ns := "usage-" + strings.ToLower(strings.ReplaceAll(t.Name(), "Test", ""))[:20]
	startReporter(t, &verifier.UsageReporter{
		Client: cs, Namespace: ns, Replica: "verifier-0", Snapshot: snap.Snapshot,
		Interval: usageInterval, Clock: clk, Log: log,
	})
	for range 3 {
		tick(g, clk, snap)
	}
	settle(g, clk, snap)
	failed, again := logged("reporting quota usage failed"), logged("reporting quota usage again")
	g.Expect(failed()).To(Equal(1))

	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	g.Eventually(func(g Gomega) {
		tick(NewWithT(t), clk, snap)
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "keyward-usage-verifier-0"}, &corev1.ConfigMap{})).To(Succeed())
	}).WithTimeout(waitFor).Should(Succeed())
	settle(g, clk, snap)
	g.Expect(again()).To(Equal(1))
	g.Expect(failed()).To(Equal(1))

	// A new streak is logged again. Nothing is created in a namespace
	// being deleted, and envtest never finishes deleting one.
	g.Expect(k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	snap.set(verifier.QuotaUsage{KeyID: "aaaaaaaaaaaaaaaa", Used: 2, Remaining: 8, ResetAt: reset})
	g.Expect(k8s.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "keyward-usage-verifier-0"}})).To(Succeed())
	g.Eventually(func(g Gomega) {
		tick(NewWithT(t), clk, snap)
		g.Expect(failed()).To(Equal(2))
	}).WithTimeout(waitFor).Should(Succeed())
	for range 2 {
		tick(g, clk, snap)
	}
	g.Expect(failed()).To(Equal(2))
}
