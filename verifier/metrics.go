package verifier

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward-dev/keyward/internal/ratelimit"
)

// Metrics are the verifier's Prometheus metrics. No label carries a key ID,
// an owner or an address: their values are unbounded.
type Metrics struct {
	decisions   *prometheus.CounterVec
	latency     prometheus.Histogram
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	hashes      prometheus.Counter
	// foreignCollisions counts foreign credentials refused because
	// several records hold their lookup ID.
	foreignCollisions prometheus.Counter
	// untrustedEnv counts decision requests whose environment was ignored.
	untrustedEnv prometheus.Counter
	// untrustedCertHeader counts client-certificate headers ignored
	// because they came from a peer not among the trusted hops, or to an
	// endpoint that does not read them.
	untrustedCertHeader prometheus.Counter
	// leakReports counts leak reports by HTTP status, leakTokens their
	// tokens by label.
	leakReports, leakTokens *prometheus.CounterVec
	reg                     prometheus.Registerer
	// byOutcome holds the decision counters already resolved, so the
	// request path does not hash label values; outcomes are a fixed set.
	byOutcome answerMemo[outcome, prometheus.Counter]
}

type outcome struct {
	result Result
	reason Reason
}

// NewMetrics registers the verifier's metrics with reg (nil: not exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_verifier_decisions_total",
			Help: "Decisions by result (Permit, Deny, NotApplicable, Indeterminate) and reason.",
		}, []string{"decision", "reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "keyward_verifier_decision_duration_seconds",
			Help:    "Time to decide one request, hashing included.",
			Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05, 0.1, 0.25, 0.5, 1},
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyward_verifier_cache_hits_total", Help: "Keys answered from the verified-key cache.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyward_verifier_cache_misses_total", Help: "Known keys not in the verified-key cache.",
		}),
		hashes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyward_verifier_hashes_total", Help: "PBKDF2 comparisons computed.",
		}),
		foreignCollisions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyward_verifier_foreign_key_collisions_total",
			Help: "Foreign-format credentials refused because several key records hold their lookup ID (see the log for the key IDs).",
		}),
		untrustedEnv: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyward_verifier_untrusted_environment_total",
			Help: "Decision requests whose environment was ignored because the caller is not in trustedCallers.",
		}),
		untrustedCertHeader: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyward_verifier_untrusted_client_certificate_header_total",
			Help: "Requests whose client-certificate header was ignored: the peer is not a trusted hop, or the endpoint does not read one (plain-site forward-auth; the token endpoint without clientCertificates.publicForwarded).",
		}),
		leakReports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_verifier_leak_reports_total",
			Help: "Leaked-key reports by reporter and HTTP status answered (401: not signed by the configured keys).",
		}, []string{"reporter", "code"}),
		leakTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_verifier_leak_report_tokens_total",
			Help: "Tokens of signed leak reports by reporter and label (true_positive: a live or expired key's secret).",
		}, []string{"reporter", "label"}),
		reg: reg,
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.latency, m.cacheHits, m.cacheMisses, m.hashes, m.foreignCollisions, m.untrustedEnv, m.untrustedCertHeader,
			m.leakReports, m.leakTokens)
	}
	return m
}

// observe exports sizes that are read when scraped.
func (m *Metrics) observe(ix *Index, c *verifiedCache) {
	if m.reg == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "keyward_verifier_records", Help: "Key records loaded.",
		}, func() float64 { return float64(ix.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "keyward_verifier_cache_entries", Help: "Entries in the verified-key cache.",
		}, func() float64 { return float64(c.len()) }),
	)
}

// observeActivity exports the size of the activity table and the
// decisions it had no room to count: a key's own traffic is in its
// status.usage, never in a label here.
func (m *Metrics) observeActivity(a *activity) {
	if m.reg == nil || a == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "keyward_verifier_activity_keys", Help: "Keys whose use this replica is counting (analytics.maxKeys at most).",
		}, func() float64 { return float64(a.tracked.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "keyward_verifier_activity_dropped_total", Help: "Decisions not counted for usage analytics because analytics.maxKeys keys were already counted.",
		}, func() float64 { return float64(a.dropped.Load()) }),
	)
}

func (m *Metrics) decisionCounter(k outcome) prometheus.Counter {
	return m.decisions.WithLabelValues(string(k.result), string(k.reason))
}

func (m *Metrics) decided(d Decision, took time.Duration) {
	m.byOutcome.get(outcome{d.Result, d.Reason}, m.decisionCounter).Inc()
	m.latency.Observe(took.Seconds())
}

// observeLimits exports the rate-limit stores' sizes and the state of a
// shared store.
func (m *Metrics) observeLimits(l *limiter) {
	if m.reg == nil {
		return
	}
	stores := map[string]*ratelimit.MemoryStore{"limits": l.local}
	if l.preAuth != nil {
		stores["preauth"] = l.preAuth
	}
	for name, s := range stores {
		labels := prometheus.Labels{"store": name}
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "keyward_verifier_ratelimit_buckets", Help: "Rate-limit counters held in memory, by store (limits, preauth).", ConstLabels: labels,
			}, func() float64 { return float64(s.Buckets()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "keyward_verifier_ratelimit_evictions_total", Help: "Idle counters evicted to make room, by store.", ConstLabels: labels,
			}, func() float64 { return float64(s.Evictions()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "keyward_verifier_ratelimit_full_total", Help: "Requests refused because the store was full of live counters, by store.", ConstLabels: labels,
			}, func() float64 { return float64(s.Refusals()) }),
		)
	}
	if f := l.fallback; f != nil {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "keyward_verifier_ratelimit_degraded", Help: "1 while the shared rate-limit store (Redis) fails and the fallback policy decides.",
			}, func() float64 {
				if f.Degraded() {
					return 1
				}
				return 0
			}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "keyward_verifier_ratelimit_fallbacks_total", Help: "Requests decided by the fallback policy instead of the shared store.",
			}, func() float64 { return float64(f.Fallbacks()) }),
		)
	}
}
