package verifier

import (
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// TestTokenMetrics: issued and refused token requests are counted by error
// code only; the token state's sizes are exported.
func TestTokenMetrics(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	srv := httptest.NewUnstartedServer(nil)
	srvF := newOAuthFixture(t, OAuthConfig{Issuer: "http://" + srv.Listener.Addr().String()})
	// A verifier of its own over the same keys, exporting to reg.
	v, err := New(srvF.index, Options{Clock: srvF.clock, Tokens: srvF.tokens, Metrics: NewMetrics(reg)})
	g.Expect(err).NotTo(HaveOccurred())
	h, err := newTestHandler(v, Config{})
	g.Expect(err).NotTo(HaveOccurred())
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	srvF.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
	k := srvF.issueWithMethods([]string{record.AuthClientCredentials}, "acme/payments/investigations:read")
	grant := url.Values{"grant_type": {"client_credentials"}}
	status, _, _ := postToken(t, srv, grant, k.key.ID(), k.key.Plaintext())
	g.Expect(status).To(Equal(200))
	status, _, _ = postToken(t, srv, url.Values{"grant_type": {"password"}}, k.key.ID(), k.key.Plaintext())
	g.Expect(status).To(Equal(400))

	families, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	values := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				g.Expect(l.GetValue()).NotTo(ContainSubstring(k.key.ID()))
				name += "," + l.GetValue()
			}
			if m.GetCounter() != nil {
				values[name] = m.GetCounter().GetValue()
			}
			if m.GetGauge() != nil {
				values[name] = m.GetGauge().GetValue()
			}
		}
	}
	g.Expect(values).To(HaveKeyWithValue("keyward_verifier_tokens_issued_total", 1.0))
	g.Expect(values).To(HaveKeyWithValue("keyward_verifier_token_requests_refused_total,unsupported_grant_type", 1.0))
	g.Expect(values).To(HaveKeyWithValue("keyward_verifier_signing_keys", 1.0))
	g.Expect(values).To(HaveKey("keyward_verifier_token_cache_entries"))
}

// TestTokenEndpointAudit: a failed client authentication is in the audit
// trail, without the credential.
func TestTokenEndpointAudit(t *testing.T) {
	g := NewWithT(t)
	trail := &testutil.SyncBuffer{}
	srv := httptest.NewUnstartedServer(nil)
	f := newOAuthFixture(t, OAuthConfig{Issuer: "http://" + srv.Listener.Addr().String()})
	v, err := New(f.index, Options{Clock: f.clock, Tokens: f.tokens, Audit: AccessLog{W: audit.NewWriter(trail)}})
	g.Expect(err).NotTo(HaveOccurred())
	h, err := newTestHandler(v, Config{})
	g.Expect(err).NotTo(HaveOccurred())
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	k := f.issueWithMethods([]string{record.AuthClientCredentials}, "acme/payments/investigations:read")
	wrong, err := keys.Generate(k.key.ID())
	g.Expect(err).NotTo(HaveOccurred())
	status, _, _ := postToken(t, srv, url.Values{"grant_type": {"client_credentials"}}, k.key.ID(), wrong.Plaintext())
	g.Expect(status).To(Equal(401))
	g.Expect(trail.String()).To(And(ContainSubstring(`"denied"`), ContainSubstring("invalid_secret")))
	g.Expect(trail.String()).NotTo(ContainSubstring(wrong.Plaintext()))
}
