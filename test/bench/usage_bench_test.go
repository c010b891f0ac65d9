package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/usage"
	"github.com/keyward-dev/keyward/manager"
)

const idleKeys = 1000

// BenchmarkUsageIdleKeys measures the status.usage writes of 1,000 keys
// that were used once and then fell idle, on the usage aggregator as
// `keyward manager` runs it (the analytics Store, the embedded
// aggregation), stepped minute by minute on a fake clock: how many writes
// a key costs from its last request until its summary stops changing (two
// days), then the writes per minute while nothing changes (goal 0).
func BenchmarkUsageIdleKeys(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake := clocktesting.NewFakeClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	k8s, mgrCache, agg := usageManager(b, ctx, fake)
	writes := func() float64 { return counter(b, "keyward_usage_status_writes_total") }
	// step moves one interval on and waits for the pass it causes.
	step := func(ns string) float64 {
		before, passes := writes(), agg.Passes()
		fake.Step(controllers.DefaultUsageInterval)
		waitFor(b, func() bool { return agg.Passes() > passes })
		wrote := writes() - before
		if wrote > 0 {
			// The next pass compares with what the cache shows.
			cacheCaughtUp(b, ctx, k8s, mgrCache, ns)
		}
		return wrote
	}

	for i := 0; i < b.N; i++ {
		t0 := fake.Now().Truncate(time.Minute)
		ns := fmt.Sprintf("usage-idle-%d", i)
		usedOnce(b, ctx, k8s, fmt.Sprintf("bench-%d", i), idleKeysIn(b, ctx, k8s, ns), t0)
		start := writes()
		// The minute used closes and the first summaries are written, at
		// most --usage-max-writes-per-pass a pass.
		for steps := 0; writes()-start < idleKeys; steps++ {
			if steps == 3+idleKeys/controllers.DefaultUsageMaxWritesPerPass {
				b.Fatalf("only %.0f of %d first summaries written", writes()-start, idleKeys)
			}
			step(ns)
		}
		first := writes() - start
		// Two days minute by minute: the hour and then the day window
		// lose the used minute, and each key is written when they do (a
		// key without verified use at most hourly).
		for range 2 * 24 * 60 {
			step(ns)
		}
		settled := writes() - start
		// Then the keys are idle: nothing in their summaries changes.
		const idleMinutes = 12 * 60
		before := writes()
		for range idleMinutes {
			step(ns)
		}
		idle := writes() - before
		b.ReportMetric(idle/idleMinutes, "idle-writes/min")
		b.ReportMetric(settled/idleKeys, "writes/key/2d")
		fmt.Printf("\n%d keys used in one minute, then idle (usage interval %s, at most %d writes a pass):\n", idleKeys, controllers.DefaultUsageInterval, controllers.DefaultUsageMaxWritesPerPass)
		fmt.Printf("  first status.usage writes:                 %6.0f\n", first)
		fmt.Printf("  writes per key, last request to steady:    %6.2f  (first summary, the hour and the day emptying; over two days)\n", settled/idleKeys)
		fmt.Printf("  writes per minute while idle:              %6.2f  (goal 0; over the %d minutes after)\n\n", idle/idleMinutes, idleMinutes)
	}
}

// usageManager runs the usage aggregator alone, as `keyward manager`
// assembles it, on the fake clock.
func usageManager(b *testing.B, ctx context.Context, fake *clocktesting.FakeClock) (client.Client, client.Reader, *controllers.UsageAggregator) {
	scheme := manager.Scheme()
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}
	for _, ns := range []string{verifierNamespace, managerNamespace} {
		_ = k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, Cache: controllers.CacheOptions(verifierNamespace),
	})
	if err != nil {
		b.Fatal(err)
	}
	c, err := manager.Setup(mgr, manager.Options{Parts: manager.UsageAggregator, VerifierNamespace: verifierNamespace, Clock: fake})
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("the usage manager's cache did not sync")
	}
	waitFor(b, fake.HasWaiters)
	return k8s, mgr.GetCache(), c.Usage
}

// idleKeysIn creates the keys with the status.keyID the APIKey controller
// would give them (it does not run here: its hashing is not what this
// measures).
func idleKeysIn(b *testing.B, ctx context.Context, k8s client.Client, ns string) []string {
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, idleKeys)
	var wg sync.WaitGroup
	errs := make(chan error, idleKeys)
	for w := range 10 {
		wg.Go(func() {
			for i := w; i < idleKeys; i += 10 {
				id, err := keys.NewID()
				if err != nil {
					errs <- err
					continue
				}
				ids[i] = id
				key := &keywardv1.APIKey{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("idle-%04d", i)},
					Spec:       keywardv1.APIKeySpec{Owner: "bench", Scopes: []keywardv1.Scope{"acme/payments/investigations:read"}},
				}
				if err := k8s.Create(ctx, key); err != nil {
					errs <- err
					continue
				}
				key.Status.KeyID = id
				errs <- k8s.Status().Update(ctx, key)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// usedOnce writes the activity reports of as many verifier replicas as
// the keys need (a report holds at most usage.MaxActivityKeys): every key
// used in minute t0, from one country and network.
func usedOnce(b *testing.B, ctx context.Context, k8s client.Client, replica string, ids []string, t0 time.Time) {
	var size int
	for part := 0; part*usage.MaxActivityKeys < len(ids); part++ {
		r := usage.ActivityReport{ReportedAt: t0.Add(time.Minute), Keys: map[string][]analytics.Minute{}}
		for _, id := range ids[part*usage.MaxActivityKeys : min(len(ids), (part+1)*usage.MaxActivityKeys)] {
			r.Keys[id] = []analytics.Minute{{Start: t0, Permits: 3,
				Countries: []analytics.Count{{Value: "DE", N: 3}}, Networks: []analytics.Count{{Value: "203.0.113.0/24", N: 3}}}}
		}
		data, err := usage.EncodeActivity(r)
		if err != nil {
			b.Fatal(err)
		}
		size += len(data)
		name, err := usage.ActivityName(fmt.Sprintf("%s-%d", replica, part))
		if err != nil {
			b.Fatal(err)
		}
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: name,
				Labels: map[string]string{usage.ActivityLabel: "true", record.VerifierReportLabel: "true"}},
			Data: map[string]string{usage.ActivityDataKey: string(data)},
		}
		if err := k8s.Create(ctx, cm); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = k8s.Delete(context.Background(), cm) })
	}
	b.ReportMetric(float64(size)/float64(len(ids)), "report-bytes/key-minute")
}

// cacheCaughtUp waits until the cache holds the API server's version of
// every key of ns.
func cacheCaughtUp(b *testing.B, ctx context.Context, k8s client.Client, mgrCache client.Reader, ns string) {
	live := &keywardv1.APIKeyList{}
	if err := k8s.List(ctx, live, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	want := make(map[string]string, len(live.Items))
	for _, k := range live.Items {
		want[k.Name] = k.ResourceVersion
	}
	waitFor(b, func() bool {
		cached := &keywardv1.APIKeyList{}
		if err := mgrCache.List(ctx, cached, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			b.Fatal(err)
		}
		for _, k := range cached.Items {
			if want[k.Name] != k.ResourceVersion {
				return false
			}
		}
		return len(cached.Items) == len(want)
	})
}

func waitFor(b *testing.B, done func() bool) {
	deadline := time.Now().Add(2 * time.Minute)
	for !done() {
		if time.Now().After(deadline) {
			b.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond) // poll interval, bounded by the deadline
	}
}
