package verifier

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/record"
)

// BenchmarkForwardAuthCached is the verifier's own share of a cached
// forward-auth request, without the network; make bench measures it end to
// end against a bare handler.
func BenchmarkForwardAuthCached(b *testing.B) {
	benchForward(b, access.Conditions{}, Config{})
}

// BenchmarkForwardAuthCachedAnalyticsOff is BenchmarkForwardAuthCached
// without counting each key's use: the difference is what analytics costs.
func BenchmarkForwardAuthCachedAnalyticsOff(b *testing.B) {
	off := false
	benchForwardWith(b, Options{Analytics: AnalyticsConfig{Enabled: &off}}, access.Conditions{}, Config{})
}

func BenchmarkForwardAuthAccessConditions(b *testing.B) {
	benchForward(b, access.Conditions{
		SourceCIDRs: []string{"10.0.0.0/8"}, Countries: []string{"DE"}, Networks: []string{"corporate"},
		TimeWindows:            []access.TimeWindow{{Start: "00:00", End: "24:00"}},
		RequireCompliantDevice: true,
	}, Config{CountryHeader: "X-Country", DeviceHeader: "X-Device", NetworkClasses: map[string][]string{"corporate": {"10.0.0.0/8"}}})
}

// BenchmarkForwardAuthTokenBucket adds a key's token bucket: what spending
// from a limit and answering with RateLimit headers costs.
func BenchmarkForwardAuthTokenBucket(b *testing.B) {
	benchForward(b, access.Conditions{}, Config{}, record.Limit{Name: "per-second", Strategy: ratelimit.TokenBucket, Limit: 1_000_000_000, PeriodSeconds: 1})
}

func benchForward(b *testing.B, conds access.Conditions, conf Config, limits ...record.Limit) {
	benchForwardWith(b, Options{}, conds, conf, limits...)
}

func benchForwardWith(b *testing.B, o Options, conds access.Conditions, conf Config, limits ...record.Limit) {
	h, r := forwardFixture(b, o, conds, conf, limits...)
	servePermitted(b, h, r)
}

// forwardFixture is a handler over one key with conds and limits, and the
// forward-auth request of its client, which every condition allows.
func forwardFixture(b *testing.B, o Options, conds access.Conditions, conf Config, limits ...record.Limit) (http.Handler, *http.Request) {
	o.Classes = mustClassesB(b, conf.NetworkClasses)
	f := newFixture(&testing.T{}, o)
	k := f.issue("acme/payments/investigations:read")
	k.rec.Conditions = conds
	k.rec.RateLimit.Limits = limits
	f.publish(k)
	h, err := newTestHandler(f.v, conf)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, EnvoyPrefix+"/acme/payments/investigations/INV-7", nil)
	r.Header.Set("Authorization", "Bearer "+k.key.Plaintext())
	r.Header.Set("X-Forwarded-For", "10.1.2.3")
	r.Header.Set("X-Country", "DE")
	r.Header.Set("X-Device", "compliant")
	return h, r
}

func mustClassesB(b *testing.B, m map[string][]string) access.Classes {
	c, err := access.ParseClasses(m)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// servePermitted measures h answering r, after checking once that it
// permits: a benchmark of a denial would measure something else.
func servePermitted(b *testing.B, h http.Handler, r *http.Request) {
	b.Helper()
	mustPermit(b, h, r)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// mustPermit fails b unless h permits r.
func mustPermit(b *testing.B, h http.Handler, r *http.Request) {
	b.Helper()
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, r)
	if w.code != http.StatusOK {
		b.Fatalf("status %d", w.code)
	}
}

// BenchmarkForwardAuthCachedParallel is BenchmarkForwardAuthCached from
// every CPU at once, as a server takes requests on all of them: what the
// shared counters and locks of a decision cost when the cores contend for
// them.
func BenchmarkForwardAuthCachedParallel(b *testing.B) {
	h, r := forwardFixture(b, Options{}, access.Conditions{}, Config{})
	mustPermit(b, h, r)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := r.Clone(r.Context())
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}
	})
}
