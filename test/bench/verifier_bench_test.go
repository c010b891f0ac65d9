package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/test/bench/loadspec"
	"github.com/keyward-dev/keyward/verifier"
)

// Knobs of BenchmarkVerifier, so that a quick run is possible:
//
//	VERIFIER_BENCH_DURATION     measured time of each target (default 5s)
//	VERIFIER_BENCH_ROUNDS       rounds the duration is split into (default 5)
//	VERIFIER_BENCH_WARMUP       unmeasured traffic before each load run, at
//	                            the run's own rate; it also opens the
//	                            connections (default 500ms)
//	VERIFIER_BENCH_CONNECTIONS  keep-alive connections of every run (default 32)
//	VERIFIER_BENCH_CPUPROFILE   a directory for CPU profiles of this process
//	                            in every closed-loop run, one file per
//	                            generator, target and round (go-hello-1.pprof,
//	                            wrk-cached-1.pprof, …);
//	                            `go tool pprof` merges the files it is given
const (
	envDuration    = "VERIFIER_BENCH_DURATION"
	envRounds      = "VERIFIER_BENCH_ROUNDS"
	envWarmup      = "VERIFIER_BENCH_WARMUP"
	envConnections = "VERIFIER_BENCH_CONNECTIONS"
	envCPUProfile  = "VERIFIER_BENCH_CPUPROFILE"
)

// forwardedPath is what Envoy's ext_authz HTTP service sends for a client's
// GET /acme/payments/investigations/INV-7.
const forwardedPath = verifier.EnvoyPrefix + "/acme/payments/investigations/INV-7"

// BenchmarkVerifier puts the verifier's forward-auth endpoint next to a bare
// net/http handler that writes "hello", on the same machine, behind the same
// kind of listener and server settings, driven by the same load generator
// in a process of its own. The hello server is the ceiling of what any Go
// HTTP service does here; the ratios say how much of it the verifier keeps.
//
// The targets take turns in short rounds rather than one long run each:
// whatever else the machine does then weighs on all of them alike instead
// of on whichever ran at the wrong moment. Twelve rounds of a second each:
// with five, the ratios of two runs on the same machine differed by up to
// 0.15, more than the costs they measure.
func BenchmarkVerifier(b *testing.B) {
	lg := newLoadgen(b)
	gens := []generator{lg}
	if w := newWrk(b, lg); w != nil {
		gens = append(gens, w)
	}
	for i := 0; i < b.N; i++ {
		benchVerifierOnce(b, lg, gens)
	}
}

func benchVerifierOnce(b *testing.B, lg loadgen, gens []generator) {
	helloURL := serve(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("hello"))
	}))
	// The floor of any permit: hello answering with the headers a permit
	// carries (the proxies' contract), nothing decided. What the verifier
	// loses beyond it is the cost of deciding.
	permitHeadersURL := serve(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		for _, name := range []string{"Cache-Control", verifier.HeaderKeyID, verifier.HeaderOwner,
			verifier.HeaderScopes, verifier.HeaderMatchedScope, verifier.HeaderSecret} {
			h[name] = permitHeaderValue
		}
		w.WriteHeader(http.StatusOK)
	}))

	// Real PBKDF2 cost, so that the first request of each key and any
	// request that slipped past the cache would show in the figures.
	hasher, err := keys.NewHasher(keys.DefaultIterations, false)
	if err != nil {
		b.Fatal(err)
	}
	conf := verifier.Config{
		CountryHeader:  "X-Country",
		DeviceHeader:   "X-Device",
		NetworkClasses: map[string][]string{"corporate": {"10.0.0.0/8"}, "vpn": {"100.64.0.0/10"}},
	}
	classes, err := conf.Classes()
	if err != nil {
		b.Fatal(err)
	}
	// Denials go to a file, as with --audit-log: the flood is all
	// denials, and writing them is part of what a flood costs.
	auditPath := filepath.Join(b.TempDir(), "audit.log")
	auditLog, closeAudit, err := audit.Open(auditPath)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = closeAudit.Close() }()
	index := verifier.NewIndex()
	v, err := verifier.New(index, verifier.Options{
		Classes: classes, Metrics: verifier.NewMetrics(prometheus.NewRegistry()), Audit: verifier.AccessLog{W: auditLog},
	})
	if err != nil {
		b.Fatal(err)
	}
	plain := publish(b, index, hasher, nil)
	fullConditions := access.Conditions{
		SourceCIDRs: []string{"10.0.0.0/8"},
		TimeWindows: []access.TimeWindow{{
			Days:  []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"},
			Start: "00:00", End: "24:00",
		}},
		Countries:              []string{"DE", "AT"},
		Networks:               []string{"corporate"},
		RequireCompliantDevice: true,
	}
	conditioned := publish(b, index, hasher, func(r *record.Record) { r.Conditions = fullConditions })
	// The same, spending from a token bucket on every request: a limit
	// high enough never to refuse, so that every request does the whole
	// work of a limited key and answers 200.
	limited := publish(b, index, hasher, func(r *record.Record) {
		r.Conditions = fullConditions
		r.RateLimit.Limits = []record.Limit{{Name: "per-second", Strategy: ratelimit.TokenBucket, Limit: 1_000_000_000, PeriodSeconds: 1}}
	})
	hs, err := verifier.NewHandlers(v, conf)
	if err != nil {
		b.Fatal(err)
	}
	verifierURL := serve(b, hs.Decisions)

	// Every run sends the same headers; only the key differs.
	cached := forwarded(verifierURL, plain)
	pipeline := forwarded(verifierURL, conditioned)
	withLimit := forwarded(verifierURL, limited)
	// The baseline receives the very request the full pipeline gets, same
	// path and headers: what is compared is the work of deciding, not the
	// cost of parsing a longer request.
	hello := loadspec.Spec{Method: http.MethodGet, URL: helloURL + forwardedPath, Expect: http.StatusOK, Headers: pipeline.Headers}
	flood := loadspec.Spec{Method: http.MethodGet, URL: verifierURL + forwardedPath, Expect: http.StatusUnauthorized,
		Headers:   map[string]string{"X-Forwarded-For": "10.1.2.3"},
		RandomKey: &loadspec.RandomKey{Header: "Authorization", Prefix: "Bearer ", Pool: 100_000}}
	// Wrong secrets of the cached key's ID, from an address of their own:
	// failures back off per key and source, so the key's own client, at
	// another address, must not notice them.
	wrongSecrets := loadspec.Spec{Method: http.MethodGet, URL: verifierURL + forwardedPath,
		Expect: http.StatusUnauthorized, AlsoExpect: []int{http.StatusTooManyRequests},
		Headers:   map[string]string{"X-Forwarded-For": "192.0.2.66"},
		RandomKey: &loadspec.RandomKey{Header: "Authorization", Prefix: "Bearer ", Pool: 100_000, KeyID: plain.ID()}}

	// The floods' baseline: hello receiving the flood's requests, a new key
	// in each. Drawing a key per request costs the load generator (wrk
	// runs a Lua function for each), and that cost must weigh on both
	// sides of the ratio, not on the verifier's alone.
	helloKeys := flood
	helloKeys.URL, helloKeys.Expect = helloURL+forwardedPath, http.StatusOK
	permitHeaders := hello
	permitHeaders.URL = permitHeadersURL + forwardedPath

	// One request each before any load: it proves every target answers
	// what the figures assume, and runs the one PBKDF2 per key that
	// "cached" means is already behind us.
	for _, s := range []loadspec.Spec{hello, permitHeaders, cached, pipeline, withLimit} {
		probe(b, s)
	}

	targets := []target{
		{"hello", "hello, closed loop", hello},
		{"headers", "hello + a permit's headers, closed loop", permitHeaders},
		{"cached", "cached verification, closed loop", cached},
		{"pipeline", "full pipeline, closed loop", pipeline},
		{"limited", "pipeline + token bucket, closed loop", withLimit},
		{"helloKeys", "hello, random keys, closed loop", helloKeys},
		{"flood", "random-key flood, closed loop", flood},
	}
	peaks := map[string]map[string]*loadResult{}
	for _, g := range gens {
		peaks[g.label()] = map[string]*loadResult{}
		for _, t := range targets {
			peaks[g.label()][t.tag] = &loadResult{name: g.label() + ": " + t.name}
		}
	}
	attacks := map[string]*wrongSecretResult{}
	for _, g := range gens {
		attacks[g.label()] = newWrongSecretResult(g.label())
	}
	hashes := map[*loadResult]int64{}
	// Each flood's time, warm-ups included, to put its audit lines over.
	var floodTime, wrongSecretTime time.Duration
	profiles := os.Getenv(envCPUProfile)
	for round := range lg.rounds {
		for _, g := range alternate(gens, round) {
			for _, t := range targets {
				profile := ""
				if profiles != "" {
					profile = filepath.Join(profiles, fmt.Sprintf("%s-%s-%d.pprof", g.label(), t.tag, round+1))
				}
				into := peaks[g.label()][t.tag]
				before, started := v.HashesRun(), time.Now()
				into.add(g.drive(b, into.name, t.spec, 0, profile))
				hashes[into] += v.HashesRun() - before
				if t.tag == "flood" {
					floodTime += time.Since(started)
				}
			}
			before, started := v.HashesRun(), time.Now()
			attacks[g.label()].round(b, g, wrongSecrets, cached)
			attacks[g.label()].hashes += v.HashesRun() - before
			wrongSecretTime += time.Since(started)
		}
	}
	if profiles != "" {
		fmt.Printf("CPU profiles of the closed-loop runs: %s/{go,wrk}-{hello,cached,pipeline,limited,flood}-*.pprof\n", profiles)
	}
	for _, g := range gens {
		p := peaks[g.label()]
		if n := hashes[p["cached"]] + hashes[p["pipeline"]] + hashes[p["limited"]]; n != 0 {
			b.Errorf("%s: the cached and full-pipeline runs computed %d PBKDF2 hashes: the cache was missed", g.label(), n)
		}
	}
	helloPeak, cachedPeak, pipelinePeak := peaks["go"]["hello"], peaks["go"]["cached"], peaks["go"]["pipeline"]
	limitedPeak, floodPeak, helloKeysPeak := peaks["go"]["limited"], peaks["go"]["flood"], peaks["go"]["helloKeys"]
	floodHashes := hashes[floodPeak]

	opens := map[string][2]*loadResult{}
	for _, g := range gens {
		opens[g.label()] = [2]*loadResult{{name: g.label() + ": hello, open loop"}, {name: g.label() + ": full pipeline, open loop"}}
	}
	for round := range lg.rounds {
		for _, g := range alternate(gens, round) {
			half := peaks[g.label()]["hello"].rps() / 2
			o := opens[g.label()]
			o[0].add(g.drive(b, o[0].name, hello, half, ""))
			o[1].add(g.drive(b, o[1].name, pipeline, half, ""))
		}
	}
	half := helloPeak.rps() / 2
	helloOpen, pipelineOpen := opens["go"][0], opens["go"][1]
	var all []*loadResult
	for _, g := range gens {
		for _, t := range targets {
			all = append(all, peaks[g.label()][t.tag])
		}
		all = append(all, opens[g.label()][0], opens[g.label()][1], attacks[g.label()].alone, attacks[g.label()].flood, attacks[g.label()].attacked)
	}
	// What the counted denials wrote, the last interval's included.
	g := gomega.NewWithT(b)
	g.Expect(v.Close()).To(gomega.Succeed())
	auditInfo, err := os.Stat(auditPath)
	g.Expect(err).NotTo(gomega.HaveOccurred())

	cachedRatio := cachedPeak.rps() / helloPeak.rps()
	pipelineRatio := pipelinePeak.rps() / helloPeak.rps()
	floodRatio := floodPeak.rps() / helloKeysPeak.rps()
	limitedRatio := limitedPeak.rps() / helloPeak.rps()
	b.ReportMetric(helloPeak.rps(), "hello-req/s")
	b.ReportMetric(cachedRatio, "cached/hello")
	b.ReportMetric(pipelineRatio, "pipeline/hello")
	b.ReportMetric(limitedRatio, "token-bucket/hello")
	b.ReportMetric(floodRatio, "flood/hello")
	b.ReportMetric(float64(floodHashes), "flood-hashes")
	b.ReportMetric(ms(helloOpen.quantile(0.99)), "hello-half-p99-ms")
	b.ReportMetric(ms(pipelineOpen.quantile(0.99)), "pipeline-half-p99-ms")

	fmt.Printf("\nVerifier forward-auth (Envoy ext_authz request) against a bare net/http hello handler\n")
	fmt.Printf("%d CPUs, GOMAXPROCS %d; load generator in its own process, %d keep-alive connections;\n",
		goruntime.NumCPU(), goruntime.GOMAXPROCS(0), lg.conns)
	fmt.Printf("each target measured for %d rounds of %s (each after %s of warm-up), the targets taking turns\n\n",
		lg.rounds, lg.duration, lg.warmup)
	fmt.Printf("  %-45s %9s %9s %9s %9s %9s %7s %6s %9s %9s\n",
		"run", "req/s", "p50", "p90", "p99", "max", "errors", "wrong", "srv CPU", "gen CPU")
	for _, r := range all {
		srv, gen := r.cpuPerRequest()
		fmt.Printf("  %-45s %9.0f %9s %9s %9s %9s %7d %6d %9s %9s\n", r.name, r.rps(),
			r.quantile(0.50), r.quantile(0.90), r.quantile(0.99), r.max, r.Errors, r.Unexpected, srv, gen)
	}
	fmt.Printf("  (srv CPU: CPU time per request of this process, both servers and whatever else it runs;\n")
	fmt.Printf("   gen CPU: of the load generator, which shares the machine's CPUs with the server; wrk's is not measured)\n")
	fmt.Printf("\n  Go load generator, all rounds pooled:\n")
	fmt.Printf("  cached ÷ hello                  = %.3f  (goal ≥ 0.9)\n", cachedRatio)
	fmt.Printf("  full pipeline ÷ hello           = %.3f  (goal ≥ 0.85)\n", pipelineRatio)
	fmt.Printf("  pipeline + token bucket ÷ hello = %.3f\n", limitedRatio)
	fmt.Printf("  p99 at %.0f req/s (half of hello's peak): hello %s, full pipeline %s (open loop; achieved %.0f and %.0f req/s)\n",
		half, helloOpen.quantile(0.99), pipelineOpen.quantile(0.99), helloOpen.rps(), pipelineOpen.rps())
	fmt.Printf("  random-key flood ÷ hello (random keys) = %.3f  with %d PBKDF2 hashes run (goal 0 hashes)\n\n", floodRatio, floodHashes)
	printMedians(gens, peaks, hashes, opens, attacks, lg.rounds)
	// Each flood comes from a network of its own, and every counted line
	// names its network: that tells which flood wrote what.
	byNetwork := auditBytesByNetwork(b, auditPath)
	floodAudit := float64(byNetwork[floodNetwork]) / floodTime.Seconds()
	wrongSecretAudit := float64(byNetwork[wrongSecretNetwork]) / wrongSecretTime.Seconds()
	fmt.Printf("  audit trail: %d bytes in all; under the random-key flood %d bytes over %.1f s: %.0f bytes/s;\n",
		auditInfo.Size(), byNetwork[floodNetwork], floodTime.Seconds(), floodAudit)
	fmt.Printf("  under the wrong-secret flood (with its key's client) %d bytes over %.1f s: %.0f bytes/s (warm-ups included)\n\n",
		byNetwork[wrongSecretNetwork], wrongSecretTime.Seconds(), wrongSecretAudit)
	b.ReportMetric(floodAudit, "flood-audit-B/s")
	b.ReportMetric(wrongSecretAudit, "wrong-secret-audit-B/s")

	for _, r := range all {
		if r.Errors > 0 || r.Unexpected > 0 {
			b.Errorf("%s: %d transport errors (first: %s), %d unexpected statuses: its figures do not measure what they claim",
				r.name, r.Errors, r.FirstError, r.Unexpected)
		}
	}
}

// The floods' source networks, as the audit trail names them.
const (
	floodNetwork       = "10.1.2.0/24"
	wrongSecretNetwork = "192.0.2.0/24"
)

// auditBytesByNetwork sums the audit trail's lines by the network they
// name (none: "").
func auditBytesByNetwork(b *testing.B, path string) map[string]int64 {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]int64{}
	for line := range bytes.Lines(data) {
		var l struct {
			Network string `json:"network"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			b.Fatalf("audit line %q: %v", line, err)
		}
		out[l.Network] += int64(len(line))
	}
	return out
}

// permitHeaderValue stands for each permit header's value.
var permitHeaderValue = []string{"x"}

// forwarded is the ext_authz request of a client with key from an address
// and country, with a device, that every key's conditions allow.
func forwarded(verifierURL string, key keys.Key) loadspec.Spec {
	return loadspec.Spec{Method: http.MethodGet, URL: verifierURL + forwardedPath, Expect: http.StatusOK,
		Headers: map[string]string{
			"Authorization":   "Bearer " + key.Plaintext(),
			"X-Forwarded-For": "10.1.2.3",
			"X-Country":       "DE",
			"X-Device":        "compliant",
		}}
}

// newLoadgen is the load generator as the VERIFIER_BENCH_* variables set
// it up.
func newLoadgen(b *testing.B) loadgen {
	rounds := envInt(b, envRounds, 12)
	return loadgen{
		bin:      buildLoadgen(b),
		conns:    envInt(b, envConnections, 32),
		duration: envDur(b, envDuration, 12*time.Second) / time.Duration(rounds),
		warmup:   envDur(b, envWarmup, 500*time.Millisecond),
		rounds:   rounds,
	}
}

// publish puts an active record of a new key into the index, with the
// scope every run's request needs, changed by change when not nil.
func publish(b *testing.B, index *verifier.Index, hasher keys.Hasher, change func(*record.Record)) keys.Key {
	b.Helper()
	k, err := keys.Generate("")
	if err != nil {
		b.Fatal(err)
	}
	phc, err := hasher.Hash(k)
	if err != nil {
		b.Fatal(err)
	}
	rec := benchRecord(k.ID(), phc)
	if change != nil {
		change(&rec)
	}
	data, err := record.Encode(rec)
	if err != nil {
		b.Fatal(err)
	}
	if err := index.Put(record.SecretName(k.ID()), data); err != nil {
		b.Fatal(err)
	}
	return k
}

// serve runs h on a loopback listener with the verifier's own server
// settings (cmd/keyward), so that both servers differ only in the handler.
func serve(b *testing.B, h http.Handler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
	}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func probe(b *testing.B, s loadspec.Spec) {
	b.Helper()
	req, err := http.NewRequest(s.Method, s.URL, nil)
	if err != nil {
		b.Fatal(err)
	}
	for k, v := range s.Headers {
		req.Header.Set(k, v)
	}
	client := http.DefaultClient
	if s.TLS != nil {
		c, err := s.TLS.ClientConfig()
		if err != nil {
			b.Fatal(err)
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: c}}
	}
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != s.Expect {
		b.Fatalf("%s answered %d, not %d: %s", s.URL, resp.StatusCode, s.Expect, body)
	}
}

// startProfile writes a CPU profile of this process (the servers, not the
// load generator) to path until the returned function is called.
func startProfile(b *testing.B, path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatalf("%s: %v (not together with go test -cpuprofile)", envCPUProfile, err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// loadResult is the load generator's output line; loadgen/main.go
// documents the fields.
type loadResult struct {
	Seconds    float64    `json:"seconds"`
	Requests   int64      `json:"requests"`
	Errors     int64      `json:"errors"`
	Unexpected int64      `json:"unexpected"`
	MaxMicros  float64    `json:"maxus"`
	CPUSeconds float64    `json:"cpuSeconds"`
	FirstError string     `json:"firstError"`
	Histogram  [][3]int64 `json:"histogram"`
	Handshakes int64      `json:"handshakes"`
	Resumed    int64      `json:"resumed"`

	// ServerCPU is this process's CPU time in the measured phase.
	ServerCPU time.Duration

	name string
	// perRound holds the req/s of each round added, for medians.
	perRound []float64
	max      time.Duration
	// buckets merges the rounds' histograms: low bound → [high, count].
	buckets map[int64][2]int64
}

// add merges one round into r.
func (r *loadResult) add(o loadResult) {
	r.perRound = append(r.perRound, o.rps())
	r.Seconds += o.Seconds
	r.Requests += o.Requests
	r.Errors += o.Errors
	r.Unexpected += o.Unexpected
	r.CPUSeconds += o.CPUSeconds
	r.ServerCPU += o.ServerCPU
	r.Handshakes += o.Handshakes
	r.Resumed += o.Resumed
	if r.FirstError == "" {
		r.FirstError = o.FirstError
	}
	r.max = max(r.max, time.Duration(o.MaxMicros*float64(time.Microsecond)).Round(time.Microsecond))
	if r.buckets == nil {
		r.buckets = map[int64][2]int64{}
	}
	for _, bk := range o.Histogram {
		cur := r.buckets[bk[0]]
		r.buckets[bk[0]] = [2]int64{bk[1], cur[1] + bk[2]}
	}
}

func (r *loadResult) rps() float64 {
	if r.Seconds == 0 {
		return 0
	}
	return float64(r.Requests-r.Errors) / r.Seconds
}

// quantile is the nearest-rank quantile over every round, as the upper
// bound of its histogram bucket (about 1.5% wide).
func (r *loadResult) quantile(q float64) time.Duration {
	lows := slices.Sorted(maps.Keys(r.buckets))
	var total int64
	for _, bk := range r.buckets {
		total += bk[1]
	}
	rank := max(1, int64(math.Ceil(q*float64(total))))
	var seen int64
	for _, low := range lows {
		if seen += r.buckets[low][1]; seen >= rank {
			return min(time.Duration(r.buckets[low][0]).Round(time.Microsecond), r.max)
		}
	}
	return r.max
}

// cpuPerRequest is the server's and the generator's CPU time per answered
// request.
func (r *loadResult) cpuPerRequest() (server, generator time.Duration) {
	n := r.Requests - r.Errors
	if n <= 0 {
		return 0, 0
	}
	gen := time.Duration(r.CPUSeconds * float64(time.Second))
	return (r.ServerCPU / time.Duration(n)).Round(10 * time.Nanosecond), (gen / time.Duration(n)).Round(10 * time.Nanosecond)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type loadgen struct {
	bin              string
	conns, rounds    int
	duration, warmup time.Duration
}

func buildLoadgen(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "loadgen")
	cmd := exec.Command("go", "build", "-o", bin, "./loadgen")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building the load generator: %v\n%s", err, out)
	}
	return bin
}

// run drives one target: closed loop when rate is 0, else open loop at
// rate. It samples this process's CPU time over exactly the measured phase,
// and, when profile is not "", writes a CPU profile of that phase there.
func (l loadgen) run(b *testing.B, name string, s loadspec.Spec, rate float64, profile string) loadResult {
	b.Helper()
	spec, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	args := []string{"-c", strconv.Itoa(l.conns), "-d", l.duration.String(), "-warmup", l.warmup.String(), "-spec", "-", "-announce"}
	if rate > 0 {
		args = append(args, "-mode", "open", "-rate", strconv.FormatFloat(rate, 'f', 0, 64))
	} else {
		args = append(args, "-mode", "closed")
	}
	cmd := exec.Command(l.bin, args...)
	cmd.Stdin = bytes.NewReader(spec)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: load generator: %v", name, err)
	}
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 0, 64<<10), 16<<20) // the histogram makes a long line
	if !lines.Scan() || lines.Text() != "measuring" {
		_ = cmd.Wait()
		b.Fatalf("%s: the load generator did not announce its measured phase (%v)", name, lines.Err())
	}
	stopProfile := startProfile(b, profile)
	cpuBefore := cpuTime(b)
	ok := lines.Scan()
	serverCPU := cpuTime(b) - cpuBefore
	stopProfile()
	out := slices.Clone(lines.Bytes())
	if err := cmd.Wait(); err != nil || !ok {
		b.Fatalf("%s: load generator: %v %v", name, err, lines.Err())
	}
	var r loadResult
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("%s: load generator output %q: %v", name, out, err)
	}
	r.ServerCPU = serverCPU
	return r
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q is not a positive integer", name, s)
	}
	return n
}

func envDur(b *testing.B, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		b.Fatalf("%s=%q is not a duration", name, s)
	}
	return d
}
