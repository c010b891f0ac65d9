package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/test/bench/benchmgr"
	"github.com/keyward-dev/keyward/verifier"
)

// SCALE_RECORDS is how many key records BenchmarkVerifierScale loads
// (default 100,000), for a quicker run on a small machine; the load
// generator takes the VERIFIER_BENCH_* knobs of BenchmarkVerifier.
const envRecords = "SCALE_RECORDS"

// scaleBaseline is the number of records the large index is compared with.
const scaleBaseline = 1000

// BenchmarkVerifierScale starts a verifier's record watch over N record
// Secrets and measures the time until it is ready and the heap it holds per
// record; then it compares cached verification with N records to cached
// verification with 1,000, in alternating rounds of the same load
// generator as BenchmarkVerifier. Looking a key up must not cost more when
// there are more keys: the goal of the ratio is 1.
//
// The records are written as Secrets directly, as the manager writes them,
// rather than minted through APIKeys: the manager's side of scale is
// test/bench/scale.
func BenchmarkVerifierScale(b *testing.B) {
	n := envInt(b, envRecords, 100_000)
	lg := newLoadgen(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writerCfg := rest.CopyConfig(cfg)
	writerCfg.QPS, writerCfg.Burst = -1, 0 // no client-side limit: the API server is the bottleneck
	clientset, err := kubernetes.NewForConfig(writerCfg)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		small := loadRecords(b, ctx, clientset, fmt.Sprintf("records-%d-small", i), scaleBaseline)
		large := loadRecords(b, ctx, clientset, fmt.Sprintf("records-%d-large", i), n)

		smallSpec := forwarded(serveIndex(b, small.index), small.key)
		largeSpec := forwarded(serveIndex(b, large.index), large.key)
		probe(b, smallSpec)
		probe(b, largeSpec)
		smallPeak := &loadResult{name: fmt.Sprintf("cached verification, %d records", scaleBaseline)}
		largePeak := &loadResult{name: fmt.Sprintf("cached verification, %d records", n)}
		for range lg.rounds {
			smallPeak.add(lg.run(b, smallPeak.name, smallSpec, 0, ""))
			largePeak.add(lg.run(b, largePeak.name, largeSpec, 0, ""))
		}
		ratio := largePeak.rps() / smallPeak.rps()
		b.ReportMetric(large.ready.Seconds(), "start-to-ready-s")
		b.ReportMetric(large.heapPerRecord, "heap-B/record")
		b.ReportMetric(ratio, "rps-N/rps-1k")
		fmt.Printf("\nverifier over %d key records (Go load generator, %d rounds):\n", n, lg.rounds)
		fmt.Printf("  records written as Secrets in:        %s\n", large.written.Round(time.Millisecond))
		fmt.Printf("  start to ready (all records indexed): %s (%d records: %s)\n",
			large.ready.Round(time.Millisecond), scaleBaseline, small.ready.Round(time.Millisecond))
		fmt.Printf("  live heap per record:                 %.0f B (%d records: %.0f B)\n", large.heapPerRecord, scaleBaseline, small.heapPerRecord)
		fmt.Printf("  cached req/s, %7d records:         %.0f\n", scaleBaseline, smallPeak.rps())
		fmt.Printf("  cached req/s, %7d records:         %.0f\n", n, largePeak.rps())
		fmt.Printf("  ratio:                                %.3f  (goal ≥ 0.95)\n\n", ratio)
		for _, r := range []*loadResult{smallPeak, largePeak} {
			if r.Errors > 0 || r.Unexpected > 0 {
				b.Errorf("%s: %d transport errors (first: %s), %d unexpected statuses", r.name, r.Errors, r.FirstError, r.Unexpected)
			}
		}
	}
}

// loaded is a record watch fed from its own namespace, with the one key
// of the records whose plaintext the benchmark knows.
type loaded struct {
	index          *verifier.Index
	key            keys.Key
	written, ready time.Duration
	heapPerRecord  float64
}

// loadRecords writes n record Secrets into a new namespace ns, one of
// them of a key the caller can present, starts a Watch over them and
// waits until every record is in its index.
func loadRecords(b *testing.B, ctx context.Context, clientset kubernetes.Interface, ns string, n int) loaded {
	b.Helper()
	if _, err := clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	// Few iterations: the benchmark's keys are verified once each at most
	// (the probe, before the cache holds the key); hashing is not measured.
	hasher, err := keys.NewHasher(1000, true)
	if err != nil {
		b.Fatal(err)
	}
	known, err := keys.Generate("")
	if err != nil {
		b.Fatal(err)
	}
	// Every other record carries the hash of one throwaway key: no one
	// presents them, so one hash serves them all.
	filler, err := keys.Generate("")
	if err != nil {
		b.Fatal(err)
	}
	knownHash, err := hasher.Hash(known)
	if err != nil {
		b.Fatal(err)
	}
	fillerHash, err := hasher.Hash(filler)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	writeRecords(b, ctx, clientset, ns, n, func(i int) (string, []byte) {
		if i == 0 {
			return known.ID(), recordData(b, known.ID(), knownHash)
		}
		k, err := keys.Generate("")
		if err != nil {
			b.Fatal(err)
		}
		return k.ID(), recordData(b, k.ID(), fillerHash)
	})
	l := loaded{key: known, written: time.Since(start)}

	heapBefore := benchmgr.LiveHeap()
	start = time.Now()
	l.index = verifier.NewIndex()
	watch := verifier.NewWatch(clientset, ns, l.index, verifier.WatchOptions{})
	go watch.Run(ctx, 10*time.Second)
	deadline := time.Now().Add(30 * time.Minute)
	for !watch.Ready() || l.index.Len() < n {
		if time.Now().After(deadline) {
			b.Fatalf("the watch over %d records in %s indexed %d within 30 minutes (ready: %v)", n, ns, l.index.Len(), watch.Ready())
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by the deadline
	}
	l.ready = time.Since(start)
	if invalid := watch.Invalid(); invalid != 0 {
		b.Fatalf("%d of the %d records in %s were refused", invalid, n, ns)
	}
	l.heapPerRecord = float64(benchmgr.LiveHeap()-heapBefore) / float64(n)
	return l
}

// writeRecords creates n record Secrets in ns from 16 clients at once;
// recordOf(i) returns the i-th key ID and record.
func writeRecords(b *testing.B, ctx context.Context, clientset kubernetes.Interface, ns string, n int, recordOf func(i int) (string, []byte)) {
	b.Helper()
	const writers = 16
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				id, data := recordOf(i)
				if _, err := clientset.CoreV1().Secrets(ns).Create(ctx, recordSecret(id, data), metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("writing record Secrets into %s: %v", ns, err)
	}
}

// recordSecret carries the record label but not the manager's: the shared
// manager's cache, which selects on its own label, leaves it alone.
func recordSecret(keyID string, data []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: record.SecretName(keyID), Labels: map[string]string{record.RecordLabel: "true"}},
		Data:       map[string][]byte{record.DataKey: data},
	}
}

// benchRecord is the record of an active key with the scopes every
// benchmark request needs.
func benchRecord(keyID, hash string) record.Record {
	return record.Record{
		Schema: record.Schema, KeyID: keyID, Owner: "team-fraud", State: record.Active,
		APIKey:  record.APIKeyRef{UID: "uid-" + keyID, Namespace: "fraud", Name: "key-" + keyID},
		Secrets: []record.Secret{{Serial: "1", Hash: hash, NotBefore: time.Now().Add(-time.Hour)}},
		Scopes:  []string{"acme/payments/investigations:read", "acme/payments/evidence:write"},
		Version: 1,
	}
}

func recordData(b *testing.B, keyID, hash string) []byte {
	data, err := record.Encode(benchRecord(keyID, hash))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// serveIndex serves the decision endpoints of a verifier over index.
func serveIndex(b *testing.B, index *verifier.Index) string {
	b.Helper()
	v, err := verifier.New(index, verifier.Options{Metrics: verifier.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		b.Fatal(err)
	}
	conf := verifier.Config{CountryHeader: "X-Country", DeviceHeader: "X-Device"}
	hs, err := verifier.NewHandlers(v, conf)
	if err != nil {
		b.Fatal(err)
	}
	return serve(b, hs.Decisions)
}
