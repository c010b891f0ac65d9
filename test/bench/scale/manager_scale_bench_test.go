// Package scale measures the manager with many APIKeys, against an API
// server of its own: its manager hashes with few PBKDF2 iterations, so it
// cannot share a process with test/bench's, which hashes with the default.
package scale

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/manager"
	"github.com/keyward-dev/keyward/test/bench/benchmgr"
)

// SCALE_APIKEYS is how many APIKeys BenchmarkManagerScale makes the
// manager hold (default 10,000), for a quicker run on a small machine.
const envAPIKeys = "SCALE_APIKEYS"

// scaleIterations is the PBKDF2 work factor of the measured manager: the
// benchmark is about what grows with the number of keys, not hashing,
// which BenchmarkKeysReady measures at the default work factor.
const scaleIterations = 1000

var cfg *rest.Config

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	env, err := testutil.StartEnv(testutil.EnvOptions{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v (run `make bench`)\n", err)
		os.Exit(1)
	}
	cfg = env.Config
	code := m.Run()
	env.Stop()
	os.Exit(code)
}

// BenchmarkManagerScale starts the manager over M APIKeys that exist
// already, as after an upgrade or a failover, and measures the time until
// every one is Ready and the heap the manager holds per key; then it makes
// the manager reconcile every key again (a KeyPolicy that governs none of
// them: the APIKey controller re-reads every key on any policy change) and
// counts the API writes that causes. Keys that did not change need none.
//
// It measures once, whatever b.N: the manager is started once per process.
func BenchmarkManagerScale(b *testing.B) {
	n := envInt(b, envAPIKeys, 10_000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k8s, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	const ns = "scale"
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	created := time.Now()
	if err := benchmgr.CreateAPIKeys(ctx, k8s, ns, n); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("\n%d APIKeys created in %s\n", n, time.Since(created).Round(time.Millisecond))

	hasher, err := keys.NewHasher(scaleIterations, true)
	if err != nil {
		b.Fatal(err)
	}
	writes := &writeLog{}
	heapBefore := benchmgr.LiveHeap()
	start := time.Now()
	_, mgrCache, err := benchmgr.Start(ctx, cfg, benchmgr.Options{Hasher: hasher, WrapTransport: writes.wrap})
	if err != nil {
		b.Fatal(err)
	}
	if err := benchmgr.WaitAllReady(ctx, mgrCache, ns, n, time.Hour); err != nil {
		b.Fatal(err)
	}
	synced := time.Since(start)
	waitIdle(b, n)
	heapPerKey := float64(benchmgr.LiveHeap()-heapBefore) / float64(n)

	before := writes.count()
	reconciled := reconciles(b)
	policy := &keywardv1.KeyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "scale-resync"},
		Spec: keywardv1.KeyPolicySpec{NamespaceSelector: metav1.LabelSelector{
			MatchLabels: map[string]string{"keyward.dev/scale-bench": "governs-nothing"}}},
	}
	resyncStart := time.Now()
	if err := k8s.Create(ctx, policy); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Hour)
	for reconciles(b)-reconciled < float64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("the manager reconciled %.0f of %d keys after the KeyPolicy within an hour", reconciles(b)-reconciled, n)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
	waitIdle(b, n)
	resync := time.Since(resyncStart)
	resyncWrites := writes.count() - before

	b.ReportMetric(synced.Seconds(), "start-to-ready-s")
	b.ReportMetric(heapPerKey, "heap-B/apikey")
	b.ReportMetric(float64(resyncWrites), "resync-writes")
	fmt.Printf("manager started over %d APIKeys (PBKDF2 at %d iterations, %d CPUs):\n", n, scaleIterations, goruntime.GOMAXPROCS(0))
	fmt.Printf("  start to all Ready:                  %s\n", synced.Round(time.Millisecond))
	fmt.Printf("  live heap per APIKey:                %.0f B (APIKeys, delivery Secrets, records in the cache)\n", heapPerKey)
	fmt.Printf("  writes while starting:               %d (%.1f per key: %s)\n", before, float64(before)/float64(n), writes.byKind(before))
	fmt.Printf("  resync of every unchanged key:       %s\n", resync.Round(time.Millisecond))
	fmt.Printf("  API writes during that resync:       %d (goal 0)\n\n", resyncWrites)
	if resyncWrites != 0 {
		b.Errorf("reconciling %d unchanged APIKeys wrote %d times to the API server, e.g. %v", n, resyncWrites, writes.since(before, 10))
	}
}

// writeLog records every request of the manager that changes something.
type writeLog struct {
	mu     sync.Mutex
	writes []string
}

func (l *writeLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			l.mu.Lock()
			l.writes = append(l.writes, r.Method+" "+r.URL.Path)
			l.mu.Unlock()
		}
		return rt.RoundTrip(r)
	})
}

func (l *writeLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.writes)
}

// since returns up to limit writes after the first skip.
func (l *writeLog) since(skip, limit int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	rest := l.writes[skip:]
	return append([]string(nil), rest[:min(limit, len(rest))]...)
}

// byKind counts the first upto writes by method and resource, e.g.
// "POST secrets 1000, PATCH apikeys/status 2000".
func (l *writeLog) byKind(upto int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	counts := map[string]int{}
	for _, w := range l.writes[:upto] {
		counts[writeKind(w)]++
	}
	kinds := slices.Sorted(maps.Keys(counts))
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	return strings.Join(out, ", ")
}

// writeKind reduces "PATCH /apis/keyward.dev/v1alpha1/namespaces/ns/apikeys/k/status"
// to "PATCH apikeys/status".
func writeKind(w string) string {
	method, path, _ := strings.Cut(w, " ")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	resource := path
	if i := slices.Index(parts, "namespaces"); i >= 0 && i+2 < len(parts) {
		resource = parts[i+2]
		if i+4 < len(parts) {
			resource += "/" + parts[i+4]
		}
	}
	return method + " " + resource
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// waitIdle waits until the APIKey controller's queue is empty and nothing
// is being reconciled, so that what follows starts from rest.
func waitIdle(b *testing.B, n int) {
	b.Helper()
	deadline := time.Now().Add(time.Hour)
	for sumMetric(b, "workqueue_depth", "apikey")+sumMetric(b, "controller_runtime_active_workers", "apikey") > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("the APIKey controller with %d keys was still busy after an hour", n)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

func reconciles(b *testing.B) float64 {
	return sumMetric(b, "controller_runtime_reconcile_total", "apikey")
}

// sumMetric adds up a counter or gauge of controller-runtime's registry
// over the series of one controller (label controller or name).
func sumMetric(b *testing.B, name, controller string) float64 {
	b.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		b.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !ofController(m, controller) {
				continue
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func ofController(m *dto.Metric, controller string) bool {
	for _, l := range m.GetLabel() {
		if (l.GetName() == "controller" || l.GetName() == "name") && l.GetValue() == controller {
			return true
		}
	}
	return false
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}
