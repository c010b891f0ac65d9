package bench

import (
	"fmt"
	goruntime "runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/test/bench/loadspec"
	"github.com/keyward-dev/keyward/verifier"
)

// BenchmarkVerifierAnalytics measures what counting each key's use costs
// the hot path: the same cached verification against a verifier with
// analytics on and one with it off, the two taking turns in short rounds
// (as in BenchmarkVerifier) so that the machine's other work weighs on both
// alike.
func BenchmarkVerifierAnalytics(b *testing.B) {
	lg := newLoadgen(b)
	for i := 0; i < b.N; i++ {
		benchAnalyticsOnce(b, lg)
	}
}

func benchAnalyticsOnce(b *testing.B, lg loadgen) {
	hasher, err := keys.NewHasher(keys.DefaultIterations, false)
	if err != nil {
		b.Fatal(err)
	}
	conf := verifier.Config{CountryHeader: "X-Country", DeviceHeader: "X-Device"}
	onV, offV := analyticsTarget(b, hasher, conf, true), analyticsTarget(b, hasher, conf, false)
	probe(b, onV)
	probe(b, offV)

	on := &loadResult{name: "cached verification, analytics on"}
	off := &loadResult{name: "cached verification, analytics off"}
	for round := range lg.rounds {
		// Alternate which goes first, so neither always follows the other.
		pair := []*loadResult{on, off}
		if round%2 == 1 {
			pair = []*loadResult{off, on}
		}
		for _, r := range pair {
			s := onV
			if r == off {
				s = offV
			}
			r.add(lg.run(b, r.name, s, 0, ""))
		}
	}
	ratio := on.rps() / off.rps()
	b.ReportMetric(ratio, "analytics-on/off")
	fmt.Printf("\nCached verification with usage analytics on and off (%d CPUs, GOMAXPROCS %d, %d connections, %d rounds of %s each)\n",
		goruntime.NumCPU(), goruntime.GOMAXPROCS(0), lg.conns, lg.rounds, lg.duration)
	for _, r := range []*loadResult{on, off} {
		fmt.Printf("  %-38s %9.0f req/s  p50 %9s  p99 %9s\n", r.name, r.rps(), r.quantile(0.50), r.quantile(0.99))
		if r.Errors > 0 || r.Unexpected > 0 {
			b.Errorf("%s: %d transport errors (first: %s), %d unexpected statuses", r.name, r.Errors, r.FirstError, r.Unexpected)
		}
	}
	fmt.Printf("\n  analytics on ÷ off = %.3f  (goal ≥ 0.97)\n\n", ratio)
}

// analyticsTarget serves a verifier with analytics on or off, and returns
// the request of a key it verifies from its cache after the probe.
func analyticsTarget(b *testing.B, hasher keys.Hasher, conf verifier.Config, enabled bool) loadspec.Spec {
	index := verifier.NewIndex()
	v, err := verifier.New(index, verifier.Options{
		Metrics: verifier.NewMetrics(prometheus.NewRegistry()), Analytics: verifier.AnalyticsConfig{Enabled: &enabled},
	})
	if err != nil {
		b.Fatal(err)
	}
	key := publish(b, index, hasher, nil)
	hs, err := verifier.NewHandlers(v, conf)
	if err != nil {
		b.Fatal(err)
	}
	return forwarded(serve(b, hs.Decisions), key)
}
