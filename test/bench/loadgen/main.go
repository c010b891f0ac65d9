// Command loadgen sends HTTP requests to one URL and prints one JSON line of
// throughput and latency. It runs as a process of its own so that the
// generator's scheduling and garbage collection never mix with the server's
// in one runtime, and every target is measured by the same client.
//
// Closed loop (-mode closed): -c keep-alive connections each send the next
// request as soon as the last answer is read, for -d: the server's peak.
//
// Open loop (-mode open): requests are due at a fixed -rate, and latency is
// counted from when a request was due, not from when it was sent: a stalled
// server then shows up in the percentiles instead of silently slowing the
// generator down (coordinated omission).
//
// The request comes from flags or, with -spec -, from a JSON object on
// stdin: {"method","url","headers":{…},"expect":200,"randomKey":{…}}.
// With -announce, a line "measuring" precedes the result line.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/test/bench/loadspec"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		mode     = flag.String("mode", "closed", `"closed" (maximum throughput) or "open" (fixed -rate)`)
		conns    = flag.Int("c", 32, "keep-alive connections, and workers sending on them")
		duration = flag.Duration("d", 5*time.Second, "length of the measured phase")
		warmup   = flag.Duration("warmup", time.Second, "traffic of the same mode and rate before the measured phase, not counted")
		rate     = flag.Float64("rate", 0, "requests per second in open-loop mode")
		timeout  = flag.Duration("timeout", 10*time.Second, "per-request timeout")
		specArg  = flag.String("spec", "", `"-" reads the request as JSON from stdin; otherwise -method, -url, -H and -expect`)
		method   = flag.String("method", http.MethodGet, "request method")
		url      = flag.String("url", "", "request URL")
		expect   = flag.Int("expect", http.StatusOK, "expected status")
		announce = flag.Bool("announce", false, `print a line "measuring" when the measured phase starts, so that the server's side can sample its own CPU time`)
		headers  headerFlags
	)
	flag.Var(&headers, "H", `request header "Name: value" (repeatable)`)
	flag.Parse()

	spec := loadspec.Spec{Method: *method, URL: *url, Expect: *expect, Headers: map[string]string(headers)}
	if *specArg == "-" {
		dec := json.NewDecoder(os.Stdin)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			return fmt.Errorf("reading the spec: %w", err)
		}
	}
	switch {
	case spec.URL == "":
		return errors.New("no URL")
	case *conns < 1:
		return errors.New("-c must be at least 1")
	case *mode == "open" && *rate <= 0:
		return errors.New("open-loop mode needs -rate")
	case *mode != "open" && *mode != "closed":
		return fmt.Errorf("unknown -mode %q", *mode)
	}
	if spec.Method == "" {
		spec.Method = http.MethodGet
	}
	if spec.Expect == 0 {
		spec.Expect = http.StatusOK
	}
	credentials, err := keyPool(spec.RandomKey)
	if err != nil {
		return err
	}

	handshakes := &handshakeCount{}
	tlsConfig, err := clientTLS(spec.TLS, handshakes)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: *timeout, Transport: &http.Transport{
		TLSClientConfig:     tlsConfig,
		DisableKeepAlives:   spec.TLS != nil && spec.TLS.ConnectionPerRequest,
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        *conns,
		MaxIdleConnsPerHost: *conns,
		MaxConnsPerHost:     *conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}}
	g := &generator{client: client, spec: spec, credentials: credentials}

	// The warm-up runs the way the measurement will: a burst at full
	// throughput before an open-loop run would leave the server in another
	// state (heap size, queued work) than the rate under test.
	if *warmup > 0 {
		if *mode == "open" {
			g.openLoop(*conns, *warmup, *rate, false)
		} else {
			g.closedLoop(*conns, *warmup, false)
		}
	}
	g.reset()
	handshakes.reset()
	if *announce {
		fmt.Println("measuring")
	}
	cpuBefore := cpuTime()
	start := time.Now()
	if *mode == "open" {
		g.openLoop(*conns, *duration, *rate, true)
	} else {
		g.closedLoop(*conns, *duration, true)
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpuBefore

	res := g.result(*mode, *conns, elapsed)
	res.CPUSeconds = cpu.Seconds()
	res.Handshakes, res.Resumed = handshakes.all.Load(), handshakes.resumed.Load()
	if *mode == "open" {
		res.TargetRate = *rate
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type headerFlags map[string]string

func (h *headerFlags) String() string { return fmt.Sprint(map[string]string(*h)) }

func (h *headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("header %q is not \"Name: value\"", v)
	}
	if *h == nil {
		*h = headerFlags{}
	}
	(*h)[strings.TrimSpace(name)] = strings.TrimSpace(value)
	return nil
}

func keyPool(rk *loadspec.RandomKey) ([]string, error) {
	if rk == nil {
		return nil, nil
	}
	if rk.Header == "" || rk.Pool < 1 {
		return nil, errors.New("randomKey needs a header and a pool of at least 1")
	}
	out := make([]string, rk.Pool)
	seen := make(map[string]struct{}, rk.Pool)
	for i := range out {
		k, err := keys.Generate(rk.KeyID)
		if err != nil {
			return nil, err
		}
		if _, dup := seen[k.ID()]; dup && rk.KeyID == "" {
			return nil, errors.New("drew the same key ID twice; the key generator is broken")
		}
		seen[k.ID()] = struct{}{}
		out[i] = rk.Prefix + k.Plaintext()
	}
	return out, nil
}

type generator struct {
	client      *http.Client
	spec        loadspec.Spec
	credentials []string
	nextKey     atomic.Uint64

	mu         sync.Mutex
	latencies  histogram
	requests   int64
	errors     int64
	unexpected int64
	firstError string
}

func (g *generator) reset() {
	g.latencies, g.requests, g.errors, g.unexpected, g.firstError = histogram{}, 0, 0, 0, ""
}

// worker owns one reusable request: building a request per send would
// spend the generator's share of the CPU on allocation, which the server
// under test then has to share with.
type worker struct {
	g   *generator
	req *http.Request

	latencies              histogram
	requests, errs, unexpd int64
	firstError             string
}

func (g *generator) newWorker() (*worker, error) {
	req, err := http.NewRequestWithContext(context.Background(), g.spec.Method, g.spec.URL, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range g.spec.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return &worker{g: g, req: req}, nil
}

// send makes one request; the response is read to the end so that the
// connection goes back to the pool.
func (w *worker) send() (ok bool) {
	if w.g.credentials != nil {
		i := w.g.nextKey.Add(1) - 1
		w.req.Header.Set(w.g.spec.RandomKey.Header, w.g.credentials[i%uint64(len(w.g.credentials))])
	}
	resp, err := w.g.client.Do(w.req)
	if err != nil {
		w.errs++
		if w.firstError == "" {
			w.firstError = err.Error()
		}
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if !w.g.spec.Expected(resp.StatusCode) {
		w.unexpd++
	}
	return true
}

func (g *generator) merge(w *worker, record bool) {
	if !record {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.latencies.merge(&w.latencies)
	g.requests += w.requests
	g.errors += w.errs
	g.unexpected += w.unexpd
	if g.firstError == "" {
		g.firstError = w.firstError
	}
}

func (g *generator) closedLoop(conns int, d time.Duration, record bool) {
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range conns {
		w, err := g.newWorker()
		if err != nil {
			panic(err) // the URL was checked above
		}
		wg.Go(func() {
			for {
				start := time.Now()
				if !start.Before(deadline) {
					break
				}
				ok := w.send()
				w.requests++
				if ok {
					w.latencies.add(time.Since(start))
				}
			}
			g.merge(w, record)
		})
	}
	wg.Wait()
}

// openLoop gives request i the due time start + i/rate. Workers take the
// next due request in turn; one that is late is sent at once and its
// latency includes the lateness, as a user arriving at that instant would
// have seen it.
func (g *generator) openLoop(conns int, d time.Duration, rate float64, record bool) {
	interval := float64(time.Second) / rate
	total := int64(d.Seconds() * rate)
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		w, err := g.newWorker()
		if err != nil {
			panic(err)
		}
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= total {
					break
				}
				due := start.Add(time.Duration(float64(i) * interval))
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				ok := w.send()
				w.requests++
				if ok {
					w.latencies.add(time.Since(due))
				}
			}
			g.merge(w, record)
		})
	}
	wg.Wait()
}

func (g *generator) result(mode string, conns int, elapsed time.Duration) loadspec.Result {
	h := &g.latencies
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return loadspec.Result{
		Mode: mode, Connections: conns, Seconds: elapsed.Seconds(),
		Requests: g.requests, Errors: g.errors, Unexpected: g.unexpected,
		RPS: float64(g.requests-g.errors) / elapsed.Seconds(),
		P50: us(h.quantile(0.50)), P90: us(h.quantile(0.90)), P99: us(h.quantile(0.99)), Max: us(h.max),
		FirstError: g.firstError,
		Histogram:  h.buckets(),
	}
}

// histogram counts latencies in buckets of 64 per power of two: exact below
// 64ns, within 1/64 above. A fixed array per worker costs no allocation on
// the request path.
type histogram struct {
	counts [64 * 40]int64
	total  int64
	max    time.Duration
}

func bucketOf(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 64 {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // v>>shift is in [64, 128)
	return min((shift+1)*64+int(v>>shift)-64, len(histogram{}.counts)-1)
}

// bounds returns the half-open range of bucket i in nanoseconds.
func bounds(i int) (low, high int64) {
	if i < 64 {
		return int64(i), int64(i) + 1
	}
	shift := i/64 - 1
	m := int64(i%64 + 64)
	return m << shift, (m + 1) << shift
}

func (h *histogram) add(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.total++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile is the upper bound of the bucket holding the nearest-rank
// quantile, never above the largest latency seen.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := max(1, int64(math.Ceil(q*float64(h.total))))
	var seen int64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			_, high := bounds(i)
			return min(time.Duration(high), h.max)
		}
	}
	return h.max
}

func (h *histogram) buckets() [][3]int64 {
	out := [][3]int64{}
	for i, c := range h.counts {
		if c > 0 {
			low, high := bounds(i)
			out = append(out, [3]int64{low, high, c})
		}
	}
	return out
}

// handshakeCount counts the TLS handshakes and how many resumed a
// session: with keep-alive connections there should be about one per
// connection, and a figure far above says connections were not reused.
type handshakeCount struct{ all, resumed atomic.Int64 }

func (h *handshakeCount) reset() { h.all.Store(0); h.resumed.Store(0) }

// clientTLS is the generator's TLS configuration for spec, nil without
// one, counting its handshakes.
func clientTLS(spec *loadspec.TLS, count *handshakeCount) (*tls.Config, error) {
	if spec == nil {
		return nil, nil
	}
	c, err := spec.ClientConfig()
	if err != nil {
		return nil, err
	}
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		count.all.Add(1)
		if cs.DidResume {
			count.resumed.Add(1)
		}
		return nil
	}
	return c, nil
}
