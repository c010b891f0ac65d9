package verifier

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/keys"
)

func TestMetricsCarryNoKeyOrAddress(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	f := newFixture(t, Options{Metrics: NewMetrics(reg)})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	unknown, _ := keys.Generate("")
	env := access.Environment{Address: addr("10.1.2.3")}
	f.decide(k.key.Plaintext(), inScope, env)
	f.decide(k.key.Plaintext(), inScope, env)
	f.decide(unknown.Plaintext(), inScope, env)

	families, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	values := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				g.Expect(l.GetName()).To(BeElementOf("decision", "reason", "store"), name)
				g.Expect(l.GetValue()).NotTo(SatisfyAny(ContainSubstring(k.key.ID()), ContainSubstring("10.1.2.3")))
				name += "," + l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				values[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				values[name] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				values[name] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	g.Expect(values).To(HaveKeyWithValue("keyward_verifier_decisions_total,Permit,allowed", 2.0))
	g.Expect(values).To(HaveKeyWithValue("keyward_verifier_decisions_total,Deny,unknown_key", 1.0))
	g.Expect(values).To(HaveKeyWithValue("keyward_verifier_decision_duration_seconds", 3.0))
	g.Expect(values).To(HaveKeyWithValue("keyward_verifier_cache_hits_total", 1.0))
	g.Expect(values).To(HaveKeyWithValue("keyward_verifier_cache_misses_total", 1.0))
	g.Expect(values).To(HaveKeyWithValue("keyward_verifier_hashes_total", 1.0))
	g.Expect(values).To(HaveKeyWithValue("keyward_verifier_records", 1.0))
	g.Expect(values).To(HaveKeyWithValue("keyward_verifier_cache_entries", 1.0))
	g.Expect(values).To(HaveKeyWithValue("keyward_verifier_activity_keys", 1.0), "the known key; the unknown one is not counted")
	g.Expect(values).To(HaveKeyWithValue("keyward_verifier_activity_dropped_total", 0.0))
	for name := range values {
		g.Expect(strings.HasPrefix(name, "keyward_verifier_")).To(BeTrue(), name)
	}
}
