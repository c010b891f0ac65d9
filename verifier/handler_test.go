package verifier

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// proxyCase builds the request one proxy sends the verifier for a client's
// request, with exactly the headers that proxy sets.
type proxyCase struct {
	name  string
	build func(method, uri string, clientHeaders http.Header) *http.Request
}

var proxies = []proxyCase{
	{"envoy ext_authz", func(method, uri string, ch http.Header) *http.Request {
		// HTTP service mode: original method, path_prefix + original path
		// and query; Host, Content-Length, Authorization and the
		// allowed_headers (here x-envoy-external-address and the API-key
		// header).
		r := httptest.NewRequest(method, EnvoyPrefix+uri, nil)
		r.Host = "api.example.com"
		r.Header = ch.Clone()
		r.Header.Set("Content-Length", "0")
		r.Header.Set("X-Envoy-External-Address", "10.1.2.3")
		return r
	}},
	{"traefik forwardAuth", func(method, uri string, ch http.Header) *http.Request {
		r := httptest.NewRequest(http.MethodGet, TraefikPath, nil)
		r.Header = ch.Clone()
		r.Header.Set("X-Forwarded-Method", method)
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "api.example.com")
		r.Header.Set("X-Forwarded-Uri", uri)
		r.Header.Set("X-Forwarded-For", "10.1.2.3")
		return r
	}},
	{"nginx auth_request", func(method, uri string, ch http.Header) *http.Request {
		// auth_request passes the client's headers and the method; the
		// URI and method come from proxy_set_header, the address from
		// $proxy_add_x_forwarded_for.
		r := httptest.NewRequest(method, NginxPath, nil)
		r.Header = ch.Clone()
		r.Header.Set("X-Original-URI", uri)
		r.Header.Set("X-Original-Method", method)
		r.Header.Set("X-Forwarded-For", "10.1.2.3")
		return r
	}},
}

func configFor(p proxyCase) Config {
	c := Config{NetworkClasses: map[string][]string{"corporate": {"10.0.0.0/8"}}, CountryHeader: "X-Country", DeviceHeader: "X-Device"}
	if strings.HasPrefix(p.name, "envoy") {
		c.ClientAddress.Header = "x-envoy-external-address"
	}
	return c
}

func TestForwardAuthContracts(t *testing.T) {
	for _, p := range proxies {
		t.Run(p.name, func(t *testing.T) {
			var trail testutil.SyncBuffer
			f := newFixture(t, Options{Audit: AccessLog{W: audit.NewWriter(&trail)}, Classes: mustClasses(t, map[string][]string{"corporate": {"10.0.0.0/8"}})})
			k := f.issue("acme/payments/investigations:read", "acme/payments/evidence:write")
			k.rec.Conditions = access.Conditions{SourceCIDRs: []string{"10.0.0.0/8"}}
			f.publish(k)
			h, err := newTestHandler(f.v, configFor(p))
			if err != nil {
				t.Fatal(err)
			}
			bearer := http.Header{"Authorization": {"Bearer " + k.key.Plaintext()}}
			argus := http.Header{"Argus-Api-Key": {k.key.Plaintext()}}
			unknown, _ := keys.Generate("")
			realm := `Bearer realm="keyward"`
			badRequest := http.StatusBadRequest
			if strings.HasPrefix(p.name, "nginx") {
				badRequest = http.StatusUnauthorized // nginx passes only 401 and 403 on
			}
			tests := []struct {
				name      string
				method    string
				uri       string
				headers   http.Header
				status    int
				challenge string
				reason    Reason
			}{
				{"permit, bearer", "GET", "/acme/payments/investigations/INV-7?page=2", bearer, 200, "", ReasonAllowed},
				{"permit, API-key header", "POST", "/acme/payments/evidence", argus, 200, "", ReasonAllowed},
				{"no credential", "GET", "/acme/payments/investigations", http.Header{}, 401, realm, ReasonMissingCredential},
				{"malformed key", "GET", "/acme/payments/investigations", http.Header{"Authorization": {"Bearer nope"}}, 401,
					realm + `, error="invalid_token", error_description="key has the wrong length"`, ReasonMalformedCredential},
				{"unknown key", "GET", "/acme/payments/investigations", http.Header{"Authorization": {"Bearer " + unknown.Plaintext()}}, 401,
					realm + `, error="invalid_token", error_description="the key is not valid"`, ReasonUnknownKey},
				{"basic scheme", "GET", "/acme/payments/investigations", http.Header{"Authorization": {"Basic YTpi"}}, badRequest,
					realm + `, error="invalid_request", error_description="the credential headers are not a single Bearer credential or API-key header"`, ReasonMalformedRequest},
				{"key in the query", "GET", "/acme/payments/investigations?access_token=" + k.key.Plaintext(), http.Header{}, badRequest,
					realm + `, error="invalid_request", error_description="credentials are not accepted in the query string"`, ReasonCredentialInQuery},
				{"out of scope", "DELETE", "/acme/payments/investigations/INV-7", bearer, 403,
					realm + `, error="insufficient_scope", error_description="the key's scopes do not allow this action on this resource", scope="acme/payments/investigations/INV-7:delete"`, ReasonInsufficientScope},
				{"no route", "GET", "/healthz", bearer, 403,
					realm + `, error="insufficient_scope", error_description="no route maps this request to a protected resource"`, ReasonNoRoute},
			}
			for _, tc := range tests {
				g := NewWithT(t)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, p.build(tc.method, tc.uri, tc.headers))
				g.Expect(w.Code).To(Equal(tc.status), tc.name)
				g.Expect(w.Header().Get("WWW-Authenticate")).To(Equal(tc.challenge), tc.name)
				g.Expect(w.Header().Get("Cache-Control")).To(Equal("no-store"), tc.name)
				g.Expect(w.Body.String()).NotTo(ContainSubstring(k.key.Plaintext()), tc.name)
				if tc.status == 200 {
					g.Expect(w.Header().Get(HeaderKeyID)).To(Equal(k.key.ID()))
					g.Expect(w.Header().Get(HeaderOwner)).To(Equal("team-fraud"))
					g.Expect(w.Header().Get(HeaderScopes)).To(Equal("acme/payments/investigations:read acme/payments/evidence:write"))
					g.Expect(w.Header().Get(HeaderMatchedScope)).NotTo(BeEmpty())
					continue
				}
				var body struct{ Decision, Reason, Owner string }
				g.Expect(json.Unmarshal(w.Body.Bytes(), &body)).To(Succeed(), tc.name)
				g.Expect(body.Reason).To(Equal(string(tc.reason)), tc.name)
				g.Expect(body.Owner).To(BeEmpty(), "the owner is not told to clients")
			}
			g := NewWithT(t)
			lines := trail.String()
			g.Expect(lines).To(ContainSubstring(`"action":"first_use"`))
			g.Expect(strings.Count(lines, `"action":"denied"`)).To(Equal(7))
			g.Expect(lines).NotTo(ContainSubstring(k.key.Plaintext()))
			g.Expect(lines).NotTo(ContainSubstring(unknown.Plaintext()))
		})
	}
}

func TestForwardAuthClientAddress(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	k := f.issue("acme/payments/investigations:read")
	k.rec.Conditions = access.Conditions{SourceCIDRs: []string{"10.0.0.0/8"}}
	f.publish(k)
	bearer := http.Header{"Authorization": {"Bearer " + k.key.Plaintext()}}
	for _, tc := range []struct {
		hops int
		xff  []string
		want int
	}{
		{1, []string{"10.1.2.3"}, 200},
		// A client's own X-Forwarded-For is to the left of what the
		// trusted proxy appended, so it cannot choose its address.
		{1, []string{"10.9.9.9, 203.0.113.5"}, 403},
		{2, []string{"10.9.9.9, 203.0.113.5"}, 200},
		{2, []string{"10.9.9.9", "203.0.113.5"}, 200},
		{3, []string{"10.9.9.9, 203.0.113.5"}, 403}, // fewer hops than trusted: unknown
		{1, []string{"not-an-ip"}, 403},
	} {
		h, err := newTestHandler(f.v, Config{ClientAddress: ClientAddress{TrustedHops: tc.hops}})
		g.Expect(err).NotTo(HaveOccurred())
		r := proxies[2].build("GET", "/acme/payments/investigations", bearer)
		r.Header["X-Forwarded-For"] = tc.xff
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		g.Expect(w.Code).To(Equal(tc.want), "hops %d, %v", tc.hops, tc.xff)
	}
}

func TestDecisionAPI(t *testing.T) {
	f := newFixture(t, Options{Classes: mustClasses(t, map[string][]string{"corporate": {"10.0.0.0/8"}})})
	k := f.issue("acme/payments/investigations:read")
	k.rec.Conditions = access.Conditions{Countries: []string{"DE"}, Networks: []string{"corporate"}}
	f.publish(k)
	// httptest's requests come from 192.0.2.1.
	h, err := newTestHandler(f.v, Config{TrustedCallers: []string{"192.0.2.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, map[string]any) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, DecisionPath, strings.NewReader(body)))
		var out map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		return w.Code, out
	}
	key := k.key.Plaintext()
	request := func(env string) string {
		return `{"subject":{"credential":"` + key + `"},"resource":{"org":"acme","project":"payments","type":"investigations","id":"INV-7"},"action":{"id":"read"},"environment":` + env + `}`
	}
	g := NewWithT(t)
	code, out := post(request(`{"address":"10.1.2.3","country":"de"}`))
	g.Expect(code).To(Equal(200))
	g.Expect(out).To(HaveKeyWithValue("decision", "Permit"))
	g.Expect(out).To(HaveKeyWithValue("keyID", k.key.ID()))
	g.Expect(out).To(HaveKeyWithValue("owner", "team-fraud"))
	g.Expect(out).To(HaveKeyWithValue("matchedScope", "acme/payments/investigations:read"))

	_, out = post(request(`{"address":"10.1.2.3","country":"FR"}`))
	g.Expect(out).To(HaveKeyWithValue("reason", "country_not_allowed"))
	_, out = post(request(`{"address":"192.0.2.1","country":"DE"}`))
	g.Expect(out).To(HaveKeyWithValue("reason", "network_not_allowed"))
	_, out = post(request(`{"network":"corporate","country":"DE"}`))
	g.Expect(out).To(HaveKeyWithValue("decision", "Permit"), "a network asserted by the caller, without an address")

	for _, bad := range []string{
		`{`,
		`{"subject":{"credential":"x"},"resource":{"org":"acme"},"action":{"id":"read"}}`,
		`{"subject":{"credential":"x"},"resource":{"org":"a","project":"b","type":"c"},"action":{"id":"fly"}}`,
		`{"subject":{"credential":"x"},"resource":{"org":"a","project":"b","type":"c"},"action":{"id":"read"},"environment":{"address":"nope"}}`,
		`{"subject":{"credential":"x"},"unknown":1}`,
	} {
		code, out := post(bad)
		g.Expect(code).To(Equal(http.StatusBadRequest), bad)
		g.Expect(out).To(HaveKeyWithValue("decision", "Indeterminate"))
		g.Expect(out).To(HaveKeyWithValue("reason", "malformed_request"))
		g.Expect(out["message"]).NotTo(ContainSubstring(key))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, DecisionPath, nil))
	g.Expect(w.Code).To(Equal(http.StatusMethodNotAllowed))
}

func TestTooManyFailuresCarriesRetryAfter(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{FreeFailures: 1, BackoffBase: 30 * time.Second})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	h, _ := newTestHandler(f.v, Config{})
	var last *httptest.ResponseRecorder
	for range 3 {
		wrong, _ := keys.Generate(k.key.ID())
		last = httptest.NewRecorder()
		h.ServeHTTP(last, proxies[2].build("GET", "/acme/payments/investigations", http.Header{"Authorization": {"Bearer " + wrong.Plaintext()}}))
	}
	g.Expect(last.Code).To(Equal(401))
	g.Expect(last.Header().Get("Retry-After")).To(Equal("30"))
	g.Expect(last.Header().Get("WWW-Authenticate")).To(ContainSubstring(`error="invalid_token"`))
}

func TestHealthEndpoints(t *testing.T) {
	g := NewWithT(t)
	ready := false
	f := newFixture(t, Options{Ready: func() bool { return ready }})
	h := f.v.HealthHandler()
	get := func(path string) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		_, _ = io.Copy(io.Discard, bytes.NewReader(w.Body.Bytes()))
		return w.Code
	}
	g.Expect(get("/healthz")).To(Equal(200))
	g.Expect(get("/readyz")).To(Equal(503))
	ready = true
	g.Expect(get("/readyz")).To(Equal(200))
}

// The configured header names are matched as HTTP matches them, whatever
// case the configuration spells them in: the handler reads each from the
// header map by its canonical form.
func TestConfiguredHeaderNamesInAnyCase(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{Classes: mustClasses(t, map[string][]string{"corporate": {"10.0.0.0/8"}})})
	k := f.issue("acme/payments/investigations:read")
	k.rec.Conditions = access.Conditions{SourceCIDRs: []string{"10.0.0.0/8"}, Countries: []string{"DE"}, RequireCompliantDevice: true}
	f.publish(k)
	h, err := newTestHandler(f.v, Config{
		ClientAddress: ClientAddress{Header: "x-real-ip"}, CountryHeader: "x-country", DeviceHeader: "x-DEVICE",
		APIKeyHeaders: []string{"x-api-key"},
	})
	g.Expect(err).NotTo(HaveOccurred())
	ask := func(country string) int {
		r := httptest.NewRequest(http.MethodGet, EnvoyPrefix+"/acme/payments/investigations/INV-7", nil)
		r.Header.Set("X-Api-Key", k.key.Plaintext())
		r.Header.Set("X-Real-IP", "10.1.2.3")
		r.Header.Set("X-Country", country)
		r.Header.Set("X-Device", "compliant")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	g.Expect(ask("DE")).To(Equal(http.StatusOK), "every condition reads its header")
	g.Expect(ask("FR")).To(Equal(http.StatusForbidden), "the country header is read, not ignored")
}
