package verifier

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
)

// Each forward-auth endpoint for mutual-TLS sites reads the trusted hop's
// header, in its proxy's style; its plain counterpart, asked by the same
// hop with the same header, ignores it, counts it and logs why, without
// the path (Envoy's is the client's own and may hold secrets).
func TestCertificateHeaderOnlyOnMTLSEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &logLines{}
	f := newCertFixture(t, Options{Metrics: NewMetrics(reg), Log: funcr.New(logs.add, funcr.Options{})})
	cert := f.corp.Issue(t, reporterOptions)
	k := f.issueReporterKey()
	const secretPath = "/acme/payments/investigations/INV-7"
	for _, tc := range []struct {
		name, format, header, value, mtls, plain string
		original                                 map[string]string
	}{
		{"envoy", ForwardedEnvoy, "X-Forwarded-Client-Cert", xfccElement(cert.Cert), MTLSEnvoyPrefix + secretPath, EnvoyPrefix + secretPath, nil},
		{"traefik", ForwardedTraefik, "X-Forwarded-Tls-Client-Cert", traefikValue(cert.Cert), MTLSTraefikPath, TraefikPath,
			map[string]string{"X-Forwarded-Method": http.MethodGet, "X-Forwarded-Uri": secretPath}},
		{"nginx", ForwardedNginx, "X-SSL-Client-Cert", escapedPEM(cert.Cert), MTLSNginxPath, NginxPath,
			map[string]string{"X-Original-Method": http.MethodGet, "X-Original-URI": secretPath}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			hs, err := NewHandlers(f.v, Config{ClientCertificates: ClientCertificates{
				Forwarded: &ForwardedCertificate{Format: tc.format, TrustedHops: []string{"10.9.0.0/16"}},
			}})
			g.Expect(err).NotTo(HaveOccurred())
			ask := func(path string) *httptest.ResponseRecorder {
				r := httptest.NewRequest(http.MethodGet, path, nil)
				r.RemoteAddr = "10.9.0.7:4242"
				for h, v := range tc.original {
					r.Header.Set(h, v)
				}
				r.Header.Set(tc.header, tc.value)
				w := httptest.NewRecorder()
				hs.Decisions.ServeHTTP(w, r)
				return w
			}
			w := ask(tc.mtls)
			g.Expect(w.Code).To(Equal(http.StatusOK), w.Body.String())
			g.Expect(w.Header().Get(HeaderKeyID)).To(Equal(k.rec.KeyID))

			before := counterValue(g, reg, "keyward_verifier_untrusted_client_certificate_header_total")
			w = ask(tc.plain)
			g.Expect(w.Code).To(Equal(http.StatusUnauthorized))
			g.Expect(reasonOf(g, w)).To(Equal(ReasonMissingCredential), "the header is not read on a plain site's endpoint")
			g.Expect(counterValue(g, reg, "keyward_verifier_untrusted_client_certificate_header_total")).To(Equal(before + 1))
		})
	}
	g := NewWithT(t)
	var ignored []string
	for _, l := range logs.all() {
		if strings.Contains(l, "ignoring a client-certificate header") {
			ignored = append(ignored, l)
		}
	}
	g.Expect(ignored).To(HaveLen(3))
	for _, l := range ignored {
		g.Expect(l).To(ContainSubstring("forward-auth of plain sites"))
		g.Expect(l).NotTo(ContainSubstring("INV-7"), "the log names no path")
	}
}

// The token endpoint reads a header as clientCertificates.publicForwarded
// says, from its own trusted hops, and ignores the decision port's: a
// proxy that terminates mutual TLS in front of the public port gets the
// bound key a token; a peer that is only among forwarded's hops does not.
func TestTokenEndpointReadsOnlyPublicForwarded(t *testing.T) {
	g := NewWithT(t)
	m := servedMutualTLS(t)
	victim, k := m.boundReporter("")
	token := func(c ClientCertificates) int {
		hs, err := NewHandlers(m.v, Config{ClientCertificates: c})
		g.Expect(err).NotTo(HaveOccurred())
		public := httptest.NewServer(hs.Public)
		defer public.Close()
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {k.key.ID()}}
		req, _ := http.NewRequest(http.MethodPost, public.URL+TokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-SSL-Client-Cert", escapedPEM(victim.Cert))
		res, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		_ = res.Body.Close()
		return res.StatusCode
	}
	hop := &ForwardedCertificate{Format: ForwardedNginx, TrustedHops: []string{"127.0.0.0/8"}}
	notHop := &ForwardedCertificate{Format: ForwardedNginx, TrustedHops: []string{"192.0.2.0/24"}}
	g.Expect(token(ClientCertificates{PublicForwarded: hop})).To(Equal(http.StatusOK))
	g.Expect(token(ClientCertificates{Forwarded: hop, PublicForwarded: notHop})).To(Equal(http.StatusUnauthorized))
	g.Expect(token(ClientCertificates{Forwarded: hop})).To(Equal(http.StatusUnauthorized))

	err := Config{ClientCertificates: ClientCertificates{PublicForwarded: &ForwardedCertificate{Format: ForwardedNginx}}}.Validate()
	g.Expect(err).To(MatchError(ContainSubstring("clientCertificates.publicForwarded.trustedHops: required")))
}
