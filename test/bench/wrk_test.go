package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/test/bench/loadspec"
)

// wrk drives the same targets as the Go load generator with wrk (Debian's
// package, which `make bench` installs through hack/test-deps.sh): a load
// generator written by others, in C, that takes a smaller share of the CPUs
// than the Go one, so the two together show how much the generator itself
// weighs on the ratios.
type wrk struct {
	bin              string
	conns, threads   int
	duration, warmup time.Duration
	// dir holds the Lua scripts, one per run, numbered by scripts.
	dir     string
	scripts atomic.Int64
}

// newWrk finds wrk, or says why the wrk figures are missing and returns
// nil: the Go generator's figures stand on their own.
func newWrk(b *testing.B, lg loadgen) *wrk {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("wrk is not installed (apt-get install wrk, or make bench-deps); CI must measure with it")
		}
		fmt.Printf("wrk is not installed: only the Go load generator's figures follow (apt-get install wrk, or make bench-deps)\n")
		return nil
	}
	// wrk counts time in whole seconds: a warm-up shorter than one is left
	// out (the Go generator's runs of the round warm the servers anyway).
	w := &wrk{bin: bin, conns: lg.conns, threads: 2, duration: max(lg.duration.Round(time.Second), time.Second), dir: b.TempDir()}
	if lg.warmup >= time.Second {
		w.warmup = lg.warmup.Round(time.Second)
	}
	if w.duration != lg.duration || w.warmup != lg.warmup {
		fmt.Printf("wrk runs for whole seconds: %s each after %s of warm-up (the Go generator: %s after %s)\n", w.duration, w.warmup, lg.duration, lg.warmup)
	}
	return w
}

// wrkDone is what the script's done() prints: wrk's own summary, and its
// latency histogram as [low, high, count] in nanoseconds, as the Go
// generator's.
type wrkDone struct {
	Micros    float64    `json:"us"`
	Requests  int64      `json:"requests"`
	Status    int64      `json:"status"`
	Transport int64      `json:"transport"`
	MaxMicros float64    `json:"maxus"`
	Histogram [][3]int64 `json:"histogram"`
}

// run drives one target for the measured duration, after a warm-up run of
// its own that also opens the connections' way through the kernel: closed
// loop when rate is 0, else paced at about rate (wrk has no open loop: each
// connection waits its share of the interval between requests, so a slow
// answer delays the next one and the latencies are kinder than an open
// loop's).
func (w *wrk) run(b *testing.B, name string, s loadspec.Spec, rate float64, profile string) loadResult {
	b.Helper()
	script := w.script(b, name, s, rate)
	if w.warmup > 0 {
		w.exec(b, name, script, s, w.warmup)
	}
	stop := startProfile(b, profile)
	defer stop()
	return w.exec(b, name, script, s, w.duration)
}

func (w *wrk) exec(b *testing.B, name, script string, s loadspec.Spec, d time.Duration) loadResult {
	b.Helper()
	conns := w.conns
	var out, errOut bytes.Buffer
	cmd := exec.Command(w.bin, "-t", strconv.Itoa(min(w.threads, conns)), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--timeout", "10s", "-s", script, s.URL)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: wrk: %v\n%s%s", name, err, out.String(), errOut.String())
	}
	// The summary is the last line; wrk prints its own report above it.
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var done wrkDone
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &done); err != nil {
		b.Fatalf("%s: wrk's output %q: %v", name, out.String(), err)
	}
	r := loadResult{
		Seconds: done.Micros / 1e6, Requests: done.Requests + done.Transport, Errors: done.Transport,
		MaxMicros: done.MaxMicros, Histogram: done.Histogram,
	}
	// wrk counts the answers of status 400 and above, not each status: a
	// target that expects a success must have none, a flood nothing else.
	if s.Expect < 400 {
		r.Unexpected = done.Status
	} else {
		r.Unexpected = done.Requests - done.Status
	}
	return r
}

// script writes the Lua script of one target: its method, headers and,
// for a flood, a key drawn from a pool for every request (a key's checksum
// is beyond a few lines of Lua, so the pool is drawn here, as the Go
// generator draws its own).
func (w *wrk) script(b *testing.B, name string, s loadspec.Spec, rate float64) string {
	b.Helper()
	var sb strings.Builder
	u, err := url.Parse(s.URL)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(&sb, "wrk.method = %q\nwrk.path = %q\n", s.Method, u.RequestURI())
	for k, v := range s.Headers {
		fmt.Fprintf(&sb, "wrk.headers[%q] = %q\n", k, v)
	}
	if rk := s.RandomKey; rk != nil {
		// A smaller pool than the Go generator's: every wrk thread parses
		// the script, and a wrong key of 20,000 is as new to the verifier.
		sb.WriteString("local pool = {\n")
		for range min(rk.Pool, 20_000) {
			k, err := keys.Generate(rk.KeyID)
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(&sb, "%q,\n", rk.Prefix+k.Plaintext())
		}
		fmt.Fprintf(&sb, `}
local next = 0
function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  next = math.random(#pool)
end
function request()
  next = next %% #pool + 1
  wrk.headers[%q] = pool[next]
  return wrk.format()
end
`, rk.Header)
	}
	if rate > 0 {
		// Each connection's mean wait between requests, in whole
		// milliseconds as wrk takes them: dithered to keep the mean.
		perConn := float64(w.conns) * 1000 / rate
		fmt.Fprintf(&sb, `local wait = %f
function delay()
  local whole = math.floor(wait)
  if math.random() < wait - whole then
    return whole + 1
  end
  return whole
end
`, perConn)
	}
	sb.WriteString(`function done(summary, latency, requests)
  local e = summary.errors
  local buckets = {}
  for i = 1, #latency do
    local us, n = latency(i)
    buckets[#buckets + 1] = string.format("[%d,%d,%d]", us * 1000, (us + 1) * 1000, n)
  end
  io.write(string.format('\n{"us":%d,"requests":%d,"status":%d,"transport":%d,"maxus":%d,"histogram":[%s]}\n',
    summary.duration, summary.requests, e.status, e.connect + e.read + e.write + e.timeout, latency.max, table.concat(buckets, ",")))
end
`)
	path := filepath.Join(w.dir, fmt.Sprintf("%d.lua", w.scripts.Add(1)))
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}
