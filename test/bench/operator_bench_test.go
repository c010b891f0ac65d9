// Package bench measures the operator against a real API server. Run it
// with `make bench`; nothing here is a pass/fail timing assertion.
package bench

import (
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/test/bench/benchmgr"
)

const (
	verifierNamespace = benchmgr.VerifierNamespace
	managerNamespace  = benchmgr.ManagerNamespace
	burst             = 200
)

var (
	cfg *rest.Config
	// managerCtx outlives every benchmark: the manager is shared, because
	// controller-runtime allows one controller of a name per process.
	managerCtx, stopManager = context.WithCancel(context.Background())
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	env, err := testutil.StartEnv(testutil.EnvOptions{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v (run `make bench`)\n", err)
		os.Exit(1)
	}
	cfg = env.Config
	code := m.Run()
	stopManager()
	env.Stop()
	os.Exit(code)
}

// BenchmarkKeysReady compares how fast the operator makes a burst of new
// APIKeys Ready with how fast one core computes PBKDF2 at the default
// 600,000 iterations, both measured in this run. With the default hashing
// concurrency (one slot on two cores) the ideal ratio is 1: every second
// not spent hashing is operator overhead.
func BenchmarkKeysReady(b *testing.B) {
	ctx := context.Background()
	k8s, mgrCache, hasher := sharedManager(b)
	hashRate := pbkdf2RatePerCore(b, hasher, 20)

	for i := 0; i < b.N; i++ {
		ns := fmt.Sprintf("burst-%d", i)
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		hashesBefore := counter(b, "keyward_pbkdf2_hashes_total")
		busyBefore := histogramSum(b, "keyward_pbkdf2_hash_seconds")
		start := time.Now()
		if err := benchmgr.CreateAPIKeys(ctx, k8s, ns, burst); err != nil {
			b.Fatal(err)
		}
		if err := benchmgr.WaitAllReady(ctx, mgrCache, ns, burst, 10*time.Minute); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		hashes := counter(b, "keyward_pbkdf2_hashes_total") - hashesBefore
		busy := histogramSum(b, "keyward_pbkdf2_hash_seconds") - busyBefore

		keyRate := burst / elapsed.Seconds()
		b.ReportMetric(hashRate, "pbkdf2-hashes/s/core")
		b.ReportMetric(keyRate, "keys-ready/s")
		b.ReportMetric(keyRate/hashRate, "ratio")
		fmt.Printf("\n%d APIKeys applied at once, PBKDF2 at %d iterations, %d hashing slot(s) on %d CPUs:\n",
			burst, hasher.Iterations(), controllers.DefaultHashConcurrency(), goruntime.GOMAXPROCS(0))
		fmt.Printf("  PBKDF2 hashes per second per core:  %8.2f\n", hashRate)
		fmt.Printf("  keys made Ready per second:         %8.2f  (%d keys in %s)\n", keyRate, burst, elapsed.Round(time.Millisecond))
		fmt.Printf("  ratio keys/s ÷ hashes/s/core:       %8.3f  (goal ≥ 0.9)\n", keyRate/hashRate)
		fmt.Printf("  hashes run:                         %8.0f  (one per key is the minimum)\n", hashes)
		fmt.Printf("  hashing slot busy:                  %8.1f%%  (%.3f s per hash under load)\n\n",
			100*busy/elapsed.Seconds(), busy/hashes)

		rotateAll(b, ctx, k8s, mgrCache, ns, hashRate)
	}
}

// rotateAll asks every key of the burst to rotate at the same instant (a
// new spec.rotation.trigger) and measures until each has its second secret,
// against the PBKDF2 ceiling: 200 hashes on the hashing slots.
func rotateAll(b *testing.B, ctx context.Context, k8s client.Client, mgrCache client.Reader, ns string, hashRate float64) {
	list := &keywardv1.APIKeyList{}
	if err := k8s.List(ctx, list, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	hashesBefore := counter(b, "keyward_pbkdf2_hashes_total")
	start := time.Now()
	for i := range list.Items {
		key := &list.Items[i]
		patch := client.MergeFrom(key.DeepCopy())
		key.Spec.Rotation = &keywardv1.Rotation{Trigger: "rotate-all"}
		if err := k8s.Patch(ctx, key, patch); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		keys := &keywardv1.APIKeyList{}
		if err := mgrCache.List(ctx, keys, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			b.Fatal(err)
		}
		rotated, doubled := 0, 0
		for _, k := range keys.Items {
			switch {
			case k.Status.SecretGeneration == 2 && meta.IsStatusConditionTrue(k.Status.Conditions, keywardv1.ReadyCondition):
				rotated++
			case k.Status.SecretGeneration > 2:
				doubled++
			}
		}
		if doubled > 0 {
			b.Fatalf("%d keys rotated more than once", doubled)
		}
		if rotated == burst {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d keys rotated within the deadline", rotated, burst)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
	elapsed := time.Since(start)
	hashes := counter(b, "keyward_pbkdf2_hashes_total") - hashesBefore
	ceiling := time.Duration(float64(burst) / (hashRate * float64(controllers.DefaultHashConcurrency())) * float64(time.Second))
	b.ReportMetric(elapsed.Seconds(), "rotate-200-s")
	b.ReportMetric(ceiling.Seconds()/elapsed.Seconds(), "rotation-ratio")
	fmt.Printf("%d APIKeys asked to rotate at the same instant:\n", burst)
	fmt.Printf("  all rotated (secretGeneration 2, none doubled) in: %s\n", elapsed.Round(time.Millisecond))
	fmt.Printf("  PBKDF2 ceiling (%d hashes on %d slot(s)):          %s\n", burst, controllers.DefaultHashConcurrency(), ceiling.Round(time.Millisecond))
	fmt.Printf("  ratio ceiling ÷ measured:                          %.3f  (1 would be pure hashing)\n", ceiling.Seconds()/elapsed.Seconds())
	fmt.Printf("  hashes run:                                        %.0f  (one per rotation)\n\n", hashes)
}

func pbkdf2RatePerCore(b *testing.B, h keys.Hasher, n int) float64 {
	k, err := keys.Generate("")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for range n {
		if _, err := h.Hash(k); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

var shared struct {
	once     sync.Once
	k8s      client.Client
	mgrCache client.Reader
	hasher   keys.Hasher
	err      error
}

// sharedManager starts the manager once per process, with the default
// PBKDF2 iterations, and returns it to every benchmark that needs one.
func sharedManager(b *testing.B) (client.Client, client.Reader, keys.Hasher) {
	shared.once.Do(func() {
		if shared.hasher, shared.err = keys.NewHasher(0, false); shared.err == nil {
			shared.k8s, shared.mgrCache, shared.err = benchmgr.Start(managerCtx, cfg, benchmgr.Options{Hasher: shared.hasher})
		}
	})
	if shared.err != nil {
		b.Fatal(shared.err)
	}
	return shared.k8s, shared.mgrCache, shared.hasher
}

func counter(b *testing.B, name string) float64 {
	return metric(b, name, func(m *dto.Metric) float64 { return m.GetCounter().GetValue() })
}

func histogramSum(b *testing.B, name string) float64 {
	return metric(b, name, func(m *dto.Metric) float64 { return m.GetHistogram().GetSampleSum() })
}

// metric reads one unlabelled metric from controller-runtime's registry.
func metric(b *testing.B, name string, value func(*dto.Metric) float64) float64 {
	families, err := metrics.Registry.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return value(f.GetMetric()[0])
		}
	}
	return 0
}
