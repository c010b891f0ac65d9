package verifier

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// escapedPEM is nginx's $ssl_client_escaped_cert of a chain: PEM with
// spaces, line breaks and other reserved characters percent-encoded.
func escapedPEM(certs ...*x509.Certificate) string {
	var b bytes.Buffer
	for _, c := range certs {
		b.Write(pemOf(c))
	}
	return url.PathEscape(b.String())
}

func pemOf(c *x509.Certificate) []byte {
	return []byte("-----BEGIN CERTIFICATE-----\n" + wrap64(base64.StdEncoding.EncodeToString(c.Raw)) + "-----END CERTIFICATE-----\n")
}

func wrap64(s string) string {
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	return b.String() + s + "\n"
}

// traefikValue is passTLSClientCert's X-Forwarded-Tls-Client-Cert.
func traefikValue(certs ...*x509.Certificate) string {
	parts := make([]string, len(certs))
	for i, c := range certs {
		parts[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	return strings.Join(parts, ",")
}

// xfccElement is one element of Envoy's x-forwarded-client-cert.
func xfccElement(leaf *x509.Certificate, chain ...*x509.Certificate) string {
	sum := sha256.Sum256(leaf.Raw)
	el := `By=spiffe://example.org/ns/edge/sa/envoy;Hash=` + hex.EncodeToString(sum[:]) + `;Cert="` + escapedPEM(leaf) + `"`
	if len(chain) > 0 {
		el += `;Chain="` + escapedPEM(chain...) + `"`
	}
	return el + `;Subject="CN=reporter,O=Acme\, Inc.";URI=` + spiffeReporter + `;DNS=reporter.payments.svc`
}

// logLines collects what the verifier logs.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, args)
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// askNginx asks nginx's endpoint for mutual-TLS sites about GET
// /acme/payments/investigations from peer with the given headers.
func askNginx(h http.Handler, peer string, hdr map[string]string) *httptest.ResponseRecorder {
	return askNginxAt(h, MTLSNginxPath, peer, hdr)
}

// askNginxAt asks the nginx-style endpoint at path.
func askNginxAt(h http.Handler, path, peer string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.RemoteAddr = peer
	r.Header.Set("X-Original-Method", http.MethodGet)
	r.Header.Set("X-Original-URI", "/acme/payments/investigations")
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func reasonOf(g Gomega, w *httptest.ResponseRecorder) Reason {
	var body denialBody
	g.Expect(json.Unmarshal(w.Body.Bytes(), &body)).To(Succeed(), w.Body.String())
	return body.Reason
}

// From a trusted hop the header is the client's certificate, in each of
// the three formats; from anyone else it is ignored, counted and logged.
func TestForwardedCertificateOnlyFromTrustedHops(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &logLines{}
	f := newCertFixture(t, Options{Metrics: NewMetrics(reg), Log: funcr.New(logs.add, funcr.Options{})})
	inter := f.corp.Intermediate(t, "corp issuing")
	cert := inter.Issue(t, reporterOptions)
	k := f.issueReporterKey()

	for _, tc := range []struct {
		format, header, value string
	}{
		{ForwardedNginx, "X-SSL-Client-Cert", escapedPEM(cert.Cert, inter.Cert)},
		{ForwardedTraefik, "X-Forwarded-Tls-Client-Cert", traefikValue(cert.Cert, inter.Cert)},
		{ForwardedTraefik, "X-Forwarded-Tls-Client-Cert", url.QueryEscape(traefikValue(cert.Cert, inter.Cert))},
		{ForwardedEnvoy, "X-Forwarded-Client-Cert", xfccElement(cert.Cert, cert.Cert, inter.Cert)},
	} {
		t.Run(tc.format, func(t *testing.T) {
			g := NewWithT(t)
			f.v.certs = newCertCache(10) // each format proves its own chain
			hs, err := NewHandlers(f.v, Config{ClientCertificates: ClientCertificates{
				Forwarded: &ForwardedCertificate{Format: tc.format, TrustedHops: []string{"10.9.0.0/16"}},
			}})
			g.Expect(err).NotTo(HaveOccurred())
			w := askNginx(hs.Decisions, "10.9.0.7:4242", map[string]string{tc.header: tc.value})
			g.Expect(w.Code).To(Equal(http.StatusOK), w.Body.String())
			g.Expect(w.Header().Get(HeaderKeyID)).To(Equal(k.rec.KeyID))
			w = askNginx(hs.Decisions, "10.9.0.7:4242", map[string]string{tc.header: " "})
			g.Expect(reasonOf(g, w)).To(Equal(ReasonMissingCredential), "an empty header is no certificate")

			before := counterValue(g, reg, "keyward_verifier_untrusted_client_certificate_header_total")
			for range 2 {
				w = askNginx(hs.Decisions, "203.0.113.9:4242", map[string]string{tc.header: tc.value})
				g.Expect(w.Code).To(Equal(http.StatusUnauthorized))
				g.Expect(reasonOf(g, w)).To(Equal(ReasonMissingCredential), "the header of an untrusted peer is ignored")
			}
			g.Expect(counterValue(g, reg, "keyward_verifier_untrusted_client_certificate_header_total")).To(Equal(before + 2))
		})
	}
	g := NewWithT(t)
	var named []string
	for _, l := range logs.all() {
		if strings.Contains(l, "trustedHops") {
			named = append(named, l)
		}
	}
	g.Expect(named).To(HaveLen(4), "one line from each of the four handlers, each asked twice: the log is throttled, the metric counts every one")
	g.Expect(named[0]).To(ContainSubstring(`"peer"="203.0.113.9"`))
}

func counterValue(g Gomega, reg *prometheus.Registry, name string) float64 {
	families, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, mf := range families {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// Malformed headers from a trusted hop are refused with a reason that
// names the header, never a panic and never as if nothing had been sent.
func TestMalformedForwardedCertificates(t *testing.T) {
	f := newCertFixture(t, Options{})
	cert := f.corp.Issue(t, reporterOptions)
	other := f.corp.Issue(t, testutil.CertOptions{CommonName: "other"})
	sum := sha256.Sum256(other.Cert.Raw)
	tooMany := make([]*x509.Certificate, maxChain+1)
	for i := range tooMany {
		tooMany[i] = cert.Cert
	}
	for _, tc := range []struct {
		name, format, value, want string
	}{
		{"nginx garbage", ForwardedNginx, "hello", "no PEM CERTIFICATE block"},
		{"nginx empty", ForwardedNginx, "%0A", "no PEM CERTIFICATE block"},
		{"nginx bad escape", ForwardedNginx, "%zz", "not a URL-escaped value"},
		{"nginx a key", ForwardedNginx, url.PathEscape(string(cert.KeyPEM(t))), "a PRIVATE KEY block"},
		{"nginx truncated", ForwardedNginx, escapedPEM(cert.Cert)[:200], "no PEM CERTIFICATE block"},
		{"nginx cut after a certificate", ForwardedNginx, escapedPEM(cert.Cert) + url.PathEscape("-----BEGIN CERT"), "text after the PEM certificates"},
		{"nginx long chain", ForwardedNginx, escapedPEM(tooMany...), "more than 8 certificates"},
		{"nginx huge", ForwardedNginx, strings.Repeat("A", maxForwardedHeader+1), "longer than"},
		{"traefik not base64", ForwardedTraefik, "!!!", "certificate 1 is not base64 DER"},
		{"traefik not DER", ForwardedTraefik, base64.StdEncoding.EncodeToString([]byte("hello")), "certificate 1:"},
		{"traefik long chain", ForwardedTraefik, traefikValue(tooMany...), "9 certificates, at most 8"},
		{"envoy unterminated", ForwardedEnvoy, `Cert="abc`, "unterminated quoted value"},
		{"envoy hash only", ForwardedEnvoy, "Hash=" + hex.EncodeToString(sum[:]), "no Cert or Chain"},
		{"envoy wrong hash", ForwardedEnvoy, "Hash=" + hex.EncodeToString(sum[:]) + `;Cert="` + escapedPEM(cert.Cert) + `"`, "Hash field is not the SHA-256"},
		{"envoy cert and chain disagree", ForwardedEnvoy, `Cert="` + escapedPEM(cert.Cert) + `";Chain="` + escapedPEM(other.Cert) + `"`, "different certificates"},
		{"envoy duplicate field", ForwardedEnvoy, `Cert="` + escapedPEM(cert.Cert) + `";cert="` + escapedPEM(other.Cert) + `"`, "appears twice"},
		{"envoy not key=value", ForwardedEnvoy, "garbage", "is not key=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			hs, err := NewHandlers(f.v, Config{ClientCertificates: ClientCertificates{
				Forwarded: &ForwardedCertificate{Format: tc.format, Header: "X-Client-Cert", TrustedHops: []string{"127.0.0.0/8"}},
			}})
			g.Expect(err).NotTo(HaveOccurred())
			w := askNginx(hs.Decisions, "127.0.0.1:4242", map[string]string{"X-Client-Cert": tc.value})
			g.Expect(w.Code).To(Equal(http.StatusUnauthorized))
			g.Expect(reasonOf(g, w)).To(Equal(ReasonMalformedCertificate))
			g.Expect(w.Body.String()).To(ContainSubstring("the X-Client-Cert header: "))
			g.Expect(w.Body.String()).To(ContainSubstring(tc.want))
		})
	}
	t.Run("repeated header", func(t *testing.T) {
		g := NewWithT(t)
		hs, err := NewHandlers(f.v, Config{ClientCertificates: ClientCertificates{
			Forwarded: &ForwardedCertificate{Format: ForwardedNginx, TrustedHops: []string{"127.0.0.0/8"}},
		}})
		g.Expect(err).NotTo(HaveOccurred())
		r := httptest.NewRequest(http.MethodGet, MTLSNginxPath, nil)
		r.RemoteAddr = "127.0.0.1:1"
		r.Header.Set("X-Original-Method", http.MethodGet)
		r.Header.Set("X-Original-URI", "/acme/payments/investigations")
		r.Header.Add("X-SSL-Client-Cert", escapedPEM(cert.Cert))
		r.Header.Add("X-SSL-Client-Cert", escapedPEM(cert.Cert))
		w := httptest.NewRecorder()
		hs.Decisions.ServeHTTP(w, r)
		g.Expect(reasonOf(g, w)).To(Equal(ReasonMalformedCertificate))
	})
}

// Envoy: the last element is the trusted hop's; quoted values may hold
// commas and semicolons; Cert alone, Chain alone or both.
func TestEnvoyXFCC(t *testing.T) {
	g := NewWithT(t)
	ca := testutil.NewCA(t, "corp")
	inter := ca.Intermediate(t, "issuing")
	leaf := inter.Issue(t, reporterOptions)
	far := inter.Issue(t, testutil.CertOptions{CommonName: "far away"})

	got, err := parseEnvoyXFCC(xfccElement(far.Cert) + "," + xfccElement(leaf.Cert, leaf.Cert, inter.Cert))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(HaveLen(2))
	g.Expect(got[0].Equal(leaf.Cert)).To(BeTrue(), "the last element, the trusted hop's own client")
	g.Expect(got[1].Equal(inter.Cert)).To(BeTrue())

	got, err = parseEnvoyXFCC(`Chain="` + escapedPEM(leaf.Cert, inter.Cert) + `"`)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got[0].Equal(leaf.Cert)).To(BeTrue())

	got, err = parseEnvoyXFCC(`By=spiffe://a/b;Subject="CN=x,O=y;z"`)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(BeEmpty(), "an element without a certificate is no certificate")

	// Unquoted Cert, as Envoy writes it when nothing needs quoting.
	got, err = parseEnvoyXFCC("Cert=" + escapedPEM(leaf.Cert))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got[0].Equal(leaf.Cert)).To(BeTrue())
}

// With no forwarded configuration, or from a peer that is not a trusted
// hop, the certificate is the TLS handshake's; from a trusted hop it
// never is, since the hop's own certificate is not its client's.
func TestCertificateOfTheTLSConnection(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	client := f.corp.Issue(t, reporterOptions)
	k := f.issueReporterKey()
	serverCert := f.corp.Issue(t, testutil.CertOptions{CommonName: "verifier", IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}})

	serve := func(c Config) *httptest.Server {
		hs, err := NewHandlers(f.v, c)
		g.Expect(err).NotTo(HaveOccurred())
		srv := httptest.NewUnstartedServer(hs.Decisions)
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert.TLSCertificate()}, ClientAuth: tls.RequestClientCert}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	ask := func(srv *httptest.Server, withCert bool) (int, http.Header) {
		tc := &tls.Config{RootCAs: f.corp.Pool()}
		if withCert {
			tc.Certificates = []tls.Certificate{client.TLSCertificate()}
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
		req, err := http.NewRequest(http.MethodGet, srv.URL+NginxPath, nil)
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("X-Original-Method", http.MethodGet)
		req.Header.Set("X-Original-URI", "/acme/payments/investigations")
		resp, err := c.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	status := func(srv *httptest.Server, withCert bool) int {
		code, _ := ask(srv, withCert)
		return code
	}
	direct := serve(Config{})
	code, header := ask(direct, true)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(header.Get(HeaderKeyID)).To(Equal(k.rec.KeyID))
	g.Expect(status(direct, false)).To(Equal(http.StatusUnauthorized))

	notAHop := serve(Config{ClientCertificates: ClientCertificates{Forwarded: &ForwardedCertificate{Format: ForwardedNginx, TrustedHops: []string{"192.0.2.0/24"}}}})
	g.Expect(status(notAHop, true)).To(Equal(http.StatusOK))

	hop := serve(Config{ClientCertificates: ClientCertificates{Forwarded: &ForwardedCertificate{Format: ForwardedNginx, TrustedHops: []string{"127.0.0.0/8", "::1/128"}}}})
	g.Expect(status(hop, true)).To(Equal(http.StatusUnauthorized), "a trusted hop's own certificate is not its client's")
}

func TestForwardedCertificateConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fwd     ForwardedCertificate
		wantErr string
	}{
		{"envoy", ForwardedCertificate{Format: ForwardedEnvoy, TrustedHops: []string{"10.0.0.0/8"}}, ""},
		{"nginx own header", ForwardedCertificate{Format: ForwardedNginx, Header: "X-Client-Cert", TrustedHops: []string{"127.0.0.0/8"}}, ""},
		{"unknown format", ForwardedCertificate{Format: "HAProxy", TrustedHops: []string{"10.0.0.0/8"}}, `format: "HAProxy" is not Envoy, Nginx or Traefik`},
		{"lower-case format", ForwardedCertificate{Format: "nginx", TrustedHops: []string{"10.0.0.0/8"}}, `format: "nginx" is not`},
		{"no hops", ForwardedCertificate{Format: ForwardedNginx}, "trustedHops: required"},
		{"bad hop", ForwardedCertificate{Format: ForwardedNginx, TrustedHops: []string{"10.0.0.1"}}, `forwarded.trustedHops[0]: "10.0.0.1" is not a CIDR`},
		{"host bits", ForwardedCertificate{Format: ForwardedNginx, TrustedHops: []string{"10.0.0.1/8"}}, "did you mean 10.0.0.0/8?"},
		{"bad header", ForwardedCertificate{Format: ForwardedNginx, Header: "X Cert", TrustedHops: []string{"10.0.0.0/8"}}, `header: "X Cert" is not a usable header name`},
		{"authorization", ForwardedCertificate{Format: ForwardedNginx, Header: "authorization", TrustedHops: []string{"10.0.0.0/8"}}, "not a usable header name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := Config{ClientCertificates: ClientCertificates{Forwarded: &tc.fwd}}.Validate()
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
		})
	}
}

// The parsers take anything a client or a broken proxy sends without
// panicking, and never return more than maxChain certificates.
func FuzzForwardedCertificateParsers(f *testing.F) {
	ca := testutil.NewCA(f, "corp")
	leaf := ca.Issue(f, reporterOptions)
	f.Add(escapedPEM(leaf.Cert))
	f.Add(traefikValue(leaf.Cert, ca.Cert))
	f.Add(xfccElement(leaf.Cert, leaf.Cert, ca.Cert))
	f.Add(`By=a;Cert="x\"y";Chain=,Hash=00`)
	f.Add(`"\`)
	f.Fuzz(func(t *testing.T, v string) {
		for _, parse := range []func(string) ([]*x509.Certificate, error){parseEnvoyXFCC, parseEscapedPEM, parseTraefikCert} {
			certs, err := parse(v)
			if err == nil && len(certs) > maxChain {
				t.Fatalf("%d certificates from %q", len(certs), v)
			}
			if err != nil && certs != nil {
				t.Fatalf("certificates and an error from %q", v)
			}
		}
	})
}
