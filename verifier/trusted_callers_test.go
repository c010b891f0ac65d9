package verifier

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward-dev/keyward/internal/access"
)

// A decision request's environment is believed from trusted callers only,
// matched on the connection's peer, never on anything the request says.
func TestDecisionEnvironmentOnlyFromTrustedCallers(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, Options{Metrics: NewMetrics(reg), Classes: mustClasses(t, map[string][]string{"corporate": {"10.0.0.0/8"}})})
	conds := map[string]access.Conditions{
		"address": {SourceCIDRs: []string{"10.0.0.0/8"}},
		"network": {Networks: []string{"corporate"}},
		"country": {Countries: []string{"DE"}},
		"device":  {RequireCompliantDevice: true},
		// t0 is a Monday 10:00 UTC; the window opens at 20:00.
		"time": {TimeWindows: []access.TimeWindow{{Days: []string{"Mon"}, Start: "20:00", End: "22:00", TimeZone: "UTC"}}},
	}
	claims := map[string]string{
		"address": `{"address":"10.1.2.3"}`,
		"network": `{"network":"corporate"}`,
		"country": `{"country":"DE"}`,
		"device":  `{"device":"compliant"}`,
		"time":    `{"time":"2026-11-23T21:00:00Z"}`,
	}
	hs, err := NewHandlers(f.v, Config{TrustedCallers: []string{"10.9.0.0/16", "2001:db8:1::/48"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range conds {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			k := f.issue("acme/payments/investigations:read")
			k.rec.Conditions = c
			f.publish(k)
			ask := func(peer string) map[string]any {
				body := `{"subject":{"credential":"` + k.key.Plaintext() + `"},"resource":{"org":"acme","project":"payments","type":"investigations"},"action":{"id":"read"},"environment":` + claims[name] + `}`
				r := httptest.NewRequest(http.MethodPost, DecisionPath, strings.NewReader(body))
				r.RemoteAddr = peer
				// Headers say nothing about who is calling.
				r.Header.Set("X-Forwarded-For", "10.9.0.1")
				w := httptest.NewRecorder()
				hs.Decisions.ServeHTTP(w, r)
				g.Expect(w.Code).To(Equal(http.StatusOK))
				var out map[string]any
				g.Expect(json.Unmarshal(w.Body.Bytes(), &out)).To(Succeed())
				return out
			}
			g.Expect(ask("10.9.3.4:5555")).To(HaveKeyWithValue("decision", "Permit"))
			g.Expect(ask("[2001:db8:1::7]:5555")).To(HaveKeyWithValue("decision", "Permit"))
			before := untrusted(g, reg)
			out := ask("203.0.113.5:5555")
			g.Expect(out).To(HaveKeyWithValue("decision", "Deny"), "an untrusted caller's %s was believed", name)
			g.Expect(untrusted(g, reg)).To(Equal(before+1), "the ignored environment is counted")
		})
	}
}

func untrusted(g Gomega, reg *prometheus.Registry) float64 {
	families, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, mf := range families {
		if mf.GetName() == "keyward_verifier_untrusted_environment_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

func TestTrustedCallersConfig(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Config{TrustedCallers: []string{"10.0.0.0/8", "::1/128"}}.Validate()).To(Succeed())
	err := Config{TrustedCallers: []string{"10.0.0.0/8", "10.1.2.3"}}.Validate()
	g.Expect(err).To(MatchError(ContainSubstring(`trustedCallers[1]: "10.1.2.3" is not a CIDR`)))
	err = Config{TrustedCallers: []string{"10.1.2.3/8"}}.Validate()
	g.Expect(err).To(MatchError(ContainSubstring("did you mean 10.0.0.0/8?")))
}

// Each door serves only its own paths.
func TestDoorsServeOnlyTheirOwnPaths(t *testing.T) {
	g := NewWithT(t)
	f := newOAuthFixture(t, OAuthConfig{Issuer: "https://keyward.example.com"})
	hs, err := NewHandlers(f.v, Config{})
	g.Expect(err).NotTo(HaveOccurred())
	status := func(h http.Handler, method, path string) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader("{}")))
		return w.Code
	}
	for _, p := range []string{JWKSPath, ASMetadataPath, OIDCDiscoveryPath} {
		g.Expect(status(hs.Public, http.MethodGet, p)).To(Equal(http.StatusOK), p)
		g.Expect(status(hs.Decisions, http.MethodGet, p)).To(Equal(http.StatusNotFound), p)
	}
	g.Expect(status(hs.Public, http.MethodPost, TokenPath)).NotTo(Equal(http.StatusNotFound))
	g.Expect(status(hs.Decisions, http.MethodPost, TokenPath)).To(Equal(http.StatusNotFound))
	for _, p := range []string{DecisionPath, EnvoyPrefix + "/acme/payments/investigations", TraefikPath, NginxPath} {
		g.Expect(status(hs.Public, http.MethodPost, p)).To(Equal(http.StatusNotFound), p)
		g.Expect(status(hs.Public, http.MethodGet, p)).To(Equal(http.StatusNotFound), p)
		g.Expect(status(hs.Decisions, http.MethodPost, p)).NotTo(Equal(http.StatusNotFound), p)
	}
}
