package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/internal/usage"
)

// usageT0 is the first minute of the tests' activity.
var usageT0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// usageHarness is one aggregator with a store the test reads, its writes
// counted, on a clock of its own.
type usageHarness struct {
	agg    *UsageAggregator
	store  *sumStore
	writes *writeLog
	clock  *clocktesting.FakeClock
}

func newUsageHarness(t *testing.T, source func(client.Client) ActivitySource, start time.Time) *usageHarness {
	t.Helper()
	cached, err := client.New(testEnv.Config, client.Options{Scheme: testScheme(), Cache: &client.CacheOptions{Reader: mgrCache}})
	if err != nil {
		t.Fatal(err)
	}
	h := &usageHarness{store: newSumStore(), writes: &writeLog{}, clock: clocktesting.NewFakeClock(start)}
	c := &countingClient{Client: cached, log: h.writes}
	h.agg = &UsageAggregator{Client: c, Clock: h.clock, Store: h.store, Source: source(c)}
	return h
}

func embedded(c client.Client) ActivitySource {
	return EmbeddedActivity{Reader: c, Namespace: verifierNamespace}
}

// passAt runs one pass as of t.
func (h *usageHarness) passAt(t time.Time) {
	h.clock.SetTime(t)
	h.agg.pass(context.Background())
}

func (h *usageHarness) usageWrites(mark int) []string { return h.writes.since(mark, "status-apply") }

// activityReport writes a replica's activity report as a verifier would,
// in namespace, with labels, and waits until the manager's cache holds it
// when it should.
func activityReport(t *testing.T, g *WithT, namespace, replica string, labels map[string]string, r usage.ActivityReport) *corev1.ConfigMap {
	t.Helper()
	data, err := usage.EncodeActivity(r)
	g.Expect(err).NotTo(HaveOccurred())
	name, err := usage.ActivityName(replica)
	g.Expect(err).NotTo(HaveOccurred())
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Data:       map[string]string{usage.ActivityDataKey: string(data)},
	}
	g.Expect(k8s.Create(context.Background(), cm)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), cm) })
	return cm
}

var reportLabels = map[string]string{usage.ActivityLabel: "true", record.VerifierReportLabel: "true"}

func waitCached(g *WithT, obj client.Object) {
	g.Eventually(func() error {
		return mgrCache.Get(context.Background(), client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

// waitUsageCached waits until the cache shows the key's status.usage as
// the API server has it, so that the next pass compares with what it wrote.
func waitUsageCached(g *WithT, key *keywardv1.APIKey) *keywardv1.UsageStatus {
	live := &keywardv1.APIKey{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), live)).To(Succeed())
	g.Eventually(func(g Gomega) {
		cached := &keywardv1.APIKey{}
		g.Expect(mgrCache.Get(context.Background(), client.ObjectKeyFromObject(key), cached)).To(Succeed())
		g.Expect(cached.Status.Usage).To(Equal(live.Status.Usage))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return live.Status.Usage
}

// twoReplicas is what two verifier replicas counted of one key: minute
// usageT0 on both, usageT0+1m on the first only.
func twoReplicas(keyID string) (r1, r2 map[string][]analytics.Minute) {
	r1 = map[string][]analytics.Minute{keyID: {
		{Start: usageT0, Permits: 10, VerifiedDenials: 2, Denials: map[string]uint32{"scope_denied": 2},
			Countries: []analytics.Count{{Value: "DE", N: 8}, {Value: "US", N: 4}},
			Networks:  []analytics.Count{{Value: "203.0.113.0/24", N: 12}}},
		{Start: usageT0.Add(time.Minute), Permits: 4,
			Countries: []analytics.Count{{Value: "DE", N: 4}},
			Networks:  []analytics.Count{{Value: "203.0.113.0/24", N: 4}}},
	}}
	r2 = map[string][]analytics.Minute{keyID: {
		{Start: usageT0, Permits: 5, UnverifiedDenials: 3, Denials: map[string]uint32{"invalid_secret": 3},
			Countries: []analytics.Count{{Value: "DE", N: 5}},
			Networks:  []analytics.Count{{Value: "198.51.100.0/24", N: 5}}},
	}}
	return r1, r2
}

// wantTwoReplicas is status.usage of twoReplicas, as of usageT0+3m.
func wantTwoReplicas() *keywardv1.UsageStatus {
	window := keywardv1.UsageWindow{Requests: 24, Denials: 5, ErrorRate: "20.8%"}
	day := window
	day.TopDenials = []keywardv1.DenialCount{{Reason: "invalid_secret", Count: 3}, {Reason: "scope_denied", Count: 2}}
	return &keywardv1.UsageStatus{
		LastUsedTime: &metav1.Time{Time: usageT0.Add(time.Minute)},
		LastHour:     &window,
		LastDay:      &day,
		TopCountries: []keywardv1.CountryCount{{Country: "DE", Requests: 17}, {Country: "US", Requests: 4}},
		TopNetworks:  []keywardv1.NetworkCount{{Network: "203.0.113.0/24", Requests: 16}, {Network: "198.51.100.0/24", Requests: 5}},
	}
}

func usageOf(g *WithT, key *keywardv1.APIKey) *keywardv1.UsageStatus {
	got := &keywardv1.APIKey{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
	return utcUsage(got.Status.Usage)
}

// utcUsage: the API's times decode in the local zone.
func utcUsage(u *keywardv1.UsageStatus) *keywardv1.UsageStatus {
	if u != nil && u.LastUsedTime != nil {
		u.LastUsedTime.Time = u.LastUsedTime.UTC()
	}
	return u
}

func TestUsageSumsTheReplicasReports(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "reports"))
	deleteAtEnd(t, key)
	r1, r2 := twoReplicas(key.Status.KeyID)
	waitCached(g, activityReport(t, g, verifierNamespace, "verifier-a-"+ns, reportLabels, usage.ActivityReport{ReportedAt: usageT0.Add(2 * time.Minute), Keys: r1}))
	waitCached(g, activityReport(t, g, verifierNamespace, "verifier-b-"+ns, reportLabels, usage.ActivityReport{ReportedAt: usageT0.Add(2 * time.Minute), Keys: r2}))

	// A report no correct verifier writes (five countries in a minute) is
	// skipped; the others still count.
	broken := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: usage.ActivityNamePrefix + "verifier-c-" + ns, Labels: reportLabels},
		Data: map[string]string{usage.ActivityDataKey: `{"reportedAt":"2026-11-23T10:02:00Z","keys":{"` + key.Status.KeyID +
			`":[{"t":"2026-11-23T10:00:00Z","p":900,"c":[{"v":"AA","n":1},{"v":"BB","n":1},{"v":"CC","n":1},{"v":"DD","n":1},{"v":"EE","n":1}]}]},"latency":{"decisions":0,"p50":0,"p99":0}}`},
	}
	g.Expect(k8s.Create(context.Background(), broken)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), broken) })
	waitCached(g, broken)

	h := newUsageHarness(t, embedded, usageT0)
	spike := analytics.Finding{Detector: analytics.Denials, Reason: analytics.DenialSpike, At: usageT0, Message: "5 of 20 denied"}
	h.store.onCommit = map[string][]analytics.Finding{key.Status.KeyID: {spike}}
	var found []analytics.KeyFinding
	h.agg.Findings = func(f analytics.KeyFinding) { found = append(found, f) }
	// usageT0+1m ends at usageT0+2m and is not read before CloseAfter.
	h.passAt(usageT0.Add(2*time.Minute + DefaultUsageCloseAfter - time.Second))
	g.Expect(found).To(Equal([]analytics.KeyFinding{{KeyID: key.Status.KeyID, Finding: spike}}), "a commit's finding, with its key")
	g.Expect(h.store.committed(key.Status.KeyID)).To(HaveLen(1), "only the closed minute is committed")
	h.passAt(usageT0.Add(3 * time.Minute))
	g.Expect(h.store.committed(key.Status.KeyID)).To(HaveLen(2))
	g.Expect(h.store.committed(key.Status.KeyID)[0].Requests()).To(Equal(uint64(20)), "both replicas' counts of the first minute")

	g.Expect(usageOf(g, key)).To(Equal(wantTwoReplicas()))
	waitUsageCached(g, key)

	// The reports still hold the committed minutes: nothing is committed
	// twice, and nothing changed, so nothing is written.
	mark := h.writes.mark()
	for i := 4; i < 8; i++ {
		h.passAt(usageT0.Add(time.Duration(i) * time.Minute))
	}
	g.Expect(h.store.committed(key.Status.KeyID)).To(HaveLen(2))
	g.Expect(h.usageWrites(mark)).To(BeEmpty())
	g.Expect(found).To(HaveLen(1))
	g.Expect(usageOf(g, key)).To(Equal(wantTwoReplicas()))

	// The aggregator owns status.usage, and only it.
	owners := fieldOwners(g, key)
	g.Expect(owners[UsageFieldOwner]).To(ContainSubstring(`"f:usage"`))
	g.Expect(owners[UsageFieldOwner]).NotTo(ContainSubstring(`"f:conditions"`))
	g.Expect(owners[FieldOwner]).NotTo(ContainSubstring(`"f:usage"`))
}

// fieldOwners maps each manager of the key's status to the fields it owns.
func fieldOwners(g *WithT, key *keywardv1.APIKey) map[string]string {
	got := &keywardv1.APIKey{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
	out := map[string]string{}
	for _, mf := range got.ManagedFields {
		if mf.Subresource == "status" && mf.FieldsV1 != nil {
			out[mf.Manager] += mf.FieldsV1.GetRawString()
		}
	}
	return out
}

func TestReconcileKeepsStatusUsage(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "kept"))
	deleteAtEnd(t, key)
	r1, r2 := twoReplicas(key.Status.KeyID)
	waitCached(g, activityReport(t, g, verifierNamespace, "verifier-a-"+ns, reportLabels, usage.ActivityReport{ReportedAt: usageT0.Add(2 * time.Minute), Keys: r1}))
	waitCached(g, activityReport(t, g, verifierNamespace, "verifier-b-"+ns, reportLabels, usage.ActivityReport{ReportedAt: usageT0.Add(2 * time.Minute), Keys: r2}))
	h := newUsageHarness(t, embedded, usageT0)
	h.passAt(usageT0.Add(3 * time.Minute))
	g.Expect(usageOf(g, key)).To(Equal(wantTwoReplicas()))

	// A spec change: the reconciler patches its status (observedGeneration,
	// conditions) after the usage write, and leaves status.usage alone.
	patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.Description = "fraud team reporting job, v2" })
	got := &keywardv1.APIKey{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(utcUsage(got.Status.Usage)).To(Equal(wantTwoReplicas()))
	owners := fieldOwners(g, key)
	g.Expect(owners[UsageFieldOwner]).To(ContainSubstring(`"f:usage"`))
	g.Expect(owners[FieldOwner]).To(ContainSubstring(`"f:observedGeneration"`))
	g.Expect(owners[FieldOwner]).NotTo(ContainSubstring(`"f:usage"`))
}

func TestIdleKeysCostNoWrite(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	idle := make([]*keywardv1.APIKey, 3)
	for i := range idle {
		idle[i] = createReady(g, newAPIKey(ns, "idle-"+string(rune('a'+i))))
		deleteAtEnd(t, idle[i])
	}
	used := createReady(g, newAPIKey(ns, "used-then-idle"))
	deleteAtEnd(t, used)
	r1, _ := twoReplicas(used.Status.KeyID)
	waitCached(g, activityReport(t, g, verifierNamespace, "verifier-a-"+ns, reportLabels, usage.ActivityReport{ReportedAt: usageT0.Add(2 * time.Minute), Keys: r1}))

	h := newUsageHarness(t, embedded, usageT0)
	mark := h.writes.mark()
	h.passAt(usageT0.Add(3 * time.Minute))
	g.Expect(h.usageWrites(mark)).To(HaveLen(1), "the used key's first summary")
	waitUsageCached(g, used)

	// Several intervals: the used key is idle now, its summary does not
	// change, and the keys never used have none.
	mark = h.writes.mark()
	for i := 4; i < 10; i++ {
		h.passAt(usageT0.Add(time.Duration(i) * time.Minute))
	}
	g.Expect(h.agg.passes.Load()).To(Equal(int64(7)))
	g.Expect(h.usageWrites(mark)).To(BeEmpty())
	for _, k := range idle {
		g.Expect(usageOf(g, k)).To(BeNil())
	}
}

func TestUsageReportsOutsideTheVerifierAreNeverRead(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "target"))
	deleteAtEnd(t, key)
	forged, _ := twoReplicas(key.Status.KeyID)
	report := usage.ActivityReport{ReportedAt: usageT0.Add(2 * time.Minute), Keys: forged}

	// A tenant writes a report in its own namespace with every label a
	// verifier's carries, keyward's own included: the manager caches it
	// (it caches keyward's snippets there) and must still not read it.
	tenantLabels := map[string]string{usage.ActivityLabel: "true", record.VerifierReportLabel: "true", ManagedByLabel: ManagedByValue}
	waitCached(g, activityReport(t, g, ns, "verifier-a", tenantLabels, report))
	// In the verifier namespace, without the verifier-report label.
	unlabelled := activityReport(t, g, verifierNamespace, "verifier-x-"+ns, map[string]string{usage.ActivityLabel: "true"}, report)
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(unlabelled), &corev1.ConfigMap{})).To(Succeed())

	h := newUsageHarness(t, embedded, usageT0)
	h.passAt(usageT0.Add(3 * time.Minute))
	h.passAt(usageT0.Add(4 * time.Minute))
	g.Expect(h.store.committed(key.Status.KeyID)).To(BeEmpty())
	g.Expect(usageOf(g, key)).To(BeNil())
}

func TestUsageForgetsRevokedAndDeletedKeys(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	revoked := createReady(g, newAPIKey(ns, "revoked"))
	deleted := createReady(g, newAPIKey(ns, "deleted"))
	deleteAtEnd(t, revoked)
	activity := map[string][]analytics.Minute{}
	for _, k := range []*keywardv1.APIKey{revoked, deleted} {
		activity[k.Status.KeyID] = []analytics.Minute{{Start: usageT0, Permits: 3}}
	}
	waitCached(g, activityReport(t, g, verifierNamespace, "verifier-a-"+ns, reportLabels, usage.ActivityReport{ReportedAt: usageT0.Add(time.Minute), Keys: activity}))
	h := newUsageHarness(t, embedded, usageT0)
	h.passAt(usageT0.Add(3 * time.Minute))
	g.Expect(usageOf(g, revoked).LastHour.Requests).To(Equal(int64(3)))
	g.Expect(usageOf(g, deleted).LastHour.Requests).To(Equal(int64(3)))

	patchKey(g, revoked, func(k *keywardv1.APIKey) { k.Spec.Revoked = true })
	g.Expect(k8s.Delete(context.Background(), deleted)).To(Succeed())
	g.Eventually(func(g Gomega) {
		cached := &keywardv1.APIKey{}
		g.Expect(mgrCache.Get(context.Background(), client.ObjectKeyFromObject(revoked), cached)).To(Succeed())
		g.Expect(cached.Status.RevokedTime).NotTo(BeNil())
		g.Expect(mgrCache.Get(context.Background(), client.ObjectKeyFromObject(deleted), cached)).NotTo(Succeed())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	h.passAt(usageT0.Add(4 * time.Minute))
	g.Expect(h.store.forgotten).To(ContainElements(revoked.Status.KeyID, deleted.Status.KeyID))
	g.Expect(h.agg.known).To(BeEmpty())
}

// The runnable: passes on its ticker, ticks the detectors once a minute
// and hands each finding to the callback.
func TestUsageAggregatorRunsOnItsClock(t *testing.T) {
	g := NewWithT(t)
	h := newUsageHarness(t, embedded, usageT0)
	finding := analytics.KeyFinding{KeyID: "abcdefghijklmnop", Finding: analytics.Finding{Detector: analytics.Silence, Reason: analytics.FellSilent, At: usageT0, Message: "silent", Actionable: true}}
	h.store.findings = []analytics.KeyFinding{finding}
	got := make(chan analytics.KeyFinding, 1)
	h.agg.Findings = func(f analytics.KeyFinding) { got <- f }
	h.agg.Interval = 20 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.agg.Start(ctx) }()
	defer func() { cancel(); g.Expect(<-done).To(Succeed()) }()

	g.Eventually(h.clock.HasWaiters).WithTimeout(timeout).Should(BeTrue())
	for i := int64(1); i <= 3; i++ {
		h.clock.Step(20 * time.Second)
		g.Eventually(h.agg.passes.Load).WithTimeout(timeout).Should(Equal(i))
	}
	g.Eventually(got).Should(Receive(Equal(finding)))
	// Three passes in 60 seconds cross one minute boundary after the first.
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	g.Expect(h.store.ticks).To(HaveLen(2))
}

func TestUsageThroughRedis(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "redis"))
	deleteAtEnd(t, key)
	server := testutil.StartRedisServer(t)
	rc := server.Client()
	const prefix = "keyward:rl:"
	// A minute near the real present: Redis expires the minutes' hashes
	// by its own clock.
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	r1, r2 := twoReplicas(key.Status.KeyID)
	for i, replica := range []map[string][]analytics.Minute{r1, r2} {
		var minutes []analytics.Minute
		for _, m := range replica[key.Status.KeyID] {
			m.Start = t0.Add(m.Start.Sub(usageT0))
			minutes = append(minutes, m)
		}
		g.Expect(usage.WriteActivity(context.Background(), rc, prefix, fmt.Sprintf("verifier-%d", i),
			map[string][]analytics.Minute{key.Status.KeyID: minutes})).To(Succeed())
	}
	h := newUsageHarness(t, func(client.Client) ActivitySource { return RedisActivity{Client: rc, Prefix: prefix} }, t0)
	h.passAt(t0.Add(3 * time.Minute))
	want := wantTwoReplicas()
	want.LastUsedTime = &metav1.Time{Time: t0.Add(time.Minute)}
	g.Expect(usageOf(g, key)).To(Equal(want))

	// Redis unreachable: the pass fails, commits nothing, and the next
	// one reads on from where it stopped.
	server.Stop()
	h.passAt(t0.Add(4 * time.Minute))
	g.Expect(h.agg.committed).To(Equal(t0.Add(time.Minute)))
	server.Start()
	h.passAt(t0.Add(5 * time.Minute))
	g.Expect(h.agg.committed).To(Equal(t0.Add(3 * time.Minute)))
	g.Expect(h.store.committed(key.Status.KeyID)).To(HaveLen(2))
}
