package verifier

import "github.com/prometheus/client_golang/prometheus"

// tokenMetrics count what the token endpoint does. Labels are RFC 6749
// error codes, a fixed set.
type tokenMetrics struct {
	issued  prometheus.Counter
	refused *prometheus.CounterVec
}

func newTokenMetrics() tokenMetrics {
	return tokenMetrics{
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyward_verifier_tokens_issued_total", Help: "Access tokens issued at the token endpoint.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_verifier_token_requests_refused_total", Help: "Token requests refused, by RFC 6749 error code.",
		}, []string{"error"}),
	}
}

// observe exports the token metrics and the sizes of the bounded token
// state with the verifier's other metrics.
func (t *Tokens) observe(m *Metrics) {
	if m == nil || m.reg == nil {
		return
	}
	gauge := func(name, help string, f func() int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	m.reg.MustRegister(t.metrics.issued, t.metrics.refused,
		gauge("keyward_verifier_token_cache_entries", "Validated access tokens cached.", t.cache.Len),
		gauge("keyward_verifier_assertion_replay_entries", "Client assertion jti values remembered.", t.replay.Len),
		gauge("keyward_verifier_clock_skew_clients", "Client keys whose clock offset is tracked.", t.skew.Len),
		gauge("keyward_verifier_signing_keys", "Signing keys loaded, issuer and client.", t.keys.Len),
	)
}
