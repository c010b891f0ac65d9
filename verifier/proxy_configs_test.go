package verifier

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

// keywardHeaders are the X-Keyward-* headers the verifier sets: a sample
// configuration must clear those a client sends.
var keywardHeaders = []string{HeaderKeyID, HeaderOwner, HeaderScopes, HeaderMatchedScope, HeaderSecret, HeaderStatus}

func readProxyConfig(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "proxies", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAttackEnvoyConfigStripsClientKeywardHeaders: no Envoy runs in the
// tests, so this reads docs/proxies/envoy.yaml the way Envoy would and
// checks that, before ext_authz runs, a filter removes every request
// header named x-keyward-*, whatever follows the prefix; and that ext_authz
// neither sends such headers to the verifier nor lets any of the
// verifier's answer headers but x-keyward-* reach the upstream.
func TestAttackEnvoyConfigStripsClientKeywardHeaders(t *testing.T) {
	g := NewWithT(t)
	var conf struct {
		HTTPFilters []struct {
			Name        string         `json:"name"`
			TypedConfig map[string]any `json:"typed_config"`
		} `json:"http_filters"`
	}
	g.Expect(yaml.Unmarshal(readProxyConfig(t, "envoy.yaml"), &conf)).To(Succeed())
	strip, authz := -1, -1
	for i, f := range conf.HTTPFilters {
		switch f.Name {
		case "envoy.filters.http.lua":
			strip = i
		case "envoy.filters.http.ext_authz":
			authz = i
		}
	}
	g.Expect(strip).To(BeNumerically(">=", 0), "no filter removes client-sent x-keyward-* headers")
	g.Expect(authz).To(BeNumerically(">", strip), "the removal must run before ext_authz adds the verifier's headers")
	lua := conf.HTTPFilters[strip].TypedConfig
	g.Expect(lua["@type"]).To(Equal("type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"))
	code, _ := lua["default_source_code"].(map[string]any)["inline_string"].(string)
	g.Expect(code).To(ContainSubstring("function envoy_on_request("))
	g.Expect(code).To(ContainSubstring(`"x-keyward-"`), "the removal is by prefix, so no name is forgotten")
	g.Expect(code).To(ContainSubstring(":remove("))

	ext := conf.HTTPFilters[authz].TypedConfig
	g.Expect(ext["failure_mode_allow"]).To(Equal(false))
	svc := ext["http_service"].(map[string]any)
	for _, p := range svc["authorization_request"].(map[string]any)["allowed_headers"].(map[string]any)["patterns"].([]any) {
		for _, v := range p.(map[string]any) {
			g.Expect(strings.ToLower(v.(string))).NotTo(HavePrefix("x-keyward"), "client x-keyward-* headers go to the verifier")
		}
	}
}

// TestAttackTraefikConfigStripsClientKeywardHeaders: no Traefik runs in the
// tests. Traefik's forwardAuth, given authResponseHeadersRegex, deletes
// every request header whose (canonical) name matches before it copies the
// matching headers of the verifier's answer: the regex must match every
// X-Keyward-* name, and nothing else.
func TestAttackTraefikConfigStripsClientKeywardHeaders(t *testing.T) {
	g := NewWithT(t)
	var mw struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       struct {
			ForwardAuth struct {
				Address                  string   `json:"address"`
				TrustForwardHeader       bool     `json:"trustForwardHeader"`
				AuthRequestHeaders       []string `json:"authRequestHeaders"`
				AuthResponseHeaders      []string `json:"authResponseHeaders"`
				AuthResponseHeadersRegex string   `json:"authResponseHeadersRegex"`
			} `json:"forwardAuth"`
		} `json:"spec"`
	}
	g.Expect(yaml.UnmarshalStrict(readProxyConfig(t, "traefik.yaml"), &mw)).To(Succeed())
	g.Expect(mw.Kind).To(Equal("Middleware"))
	fa := mw.Spec.ForwardAuth
	g.Expect(fa.AuthResponseHeadersRegex).NotTo(BeEmpty(), "without the regex, client-sent X-Keyward-* headers the list does not name reach the upstream")
	re, err := regexp.Compile(fa.AuthResponseHeadersRegex)
	g.Expect(err).NotTo(HaveOccurred())
	for _, h := range append(keywardHeaders, "X-Keyward-Anything-Else") {
		g.Expect(re.MatchString(http.CanonicalHeaderKey(h))).To(BeTrue(), "%s is not removed", h)
	}
	for _, h := range []string{"Authorization", "X-Forwarded-For", "X-Keywardish", "Content-Type"} {
		g.Expect(re.MatchString(h)).To(BeFalse(), "%s would be removed too", h)
	}
	g.Expect(fa.TrustForwardHeader).To(BeFalse())
	for _, h := range fa.AuthRequestHeaders {
		g.Expect(strings.ToLower(h)).NotTo(HavePrefix("x-keyward"))
	}
}

// TestNginxConfigClearsEveryKeywardHeader: nginx cannot remove headers by
// prefix, so its sample names every X-Keyward-* header the verifier sets;
// the real-nginx attack test proves the effect.
func TestNginxConfigClearsEveryKeywardHeader(t *testing.T) {
	g := NewWithT(t)
	for _, name := range []string{"nginx.conf", "nginx-mtls.conf"} {
		conf := string(readProxyConfig(t, name))
		for _, h := range keywardHeaders {
			g.Expect(conf).To(MatchRegexp(`(?m)^\s*proxy_set_header\s+`+regexp.QuoteMeta(h)+`\s`), "%s does not set %s for the upstream", name, h)
		}
	}
}

// TestCaddyConfigStripsClientKeywardHeaders: in the sample Caddyfiles, the
// removal of client-sent X-Keyward-* headers (by prefix) comes before
// forward_auth within one route, which fixes their order, and copy_headers
// names every identity header of a Permit; the mutual-TLS one sets the
// certificate header itself. TestRealCaddyForwardAuth and
// TestRealCaddyMutualTLS prove the effect with a real Caddy.
func TestCaddyConfigStripsClientKeywardHeaders(t *testing.T) {
	g := NewWithT(t)
	for _, name := range []string{"Caddyfile", "Caddyfile-mtls"} {
		conf := string(readProxyConfig(t, name))
		route := regexp.MustCompile(`(?m)^\s*route \{\n\s*request_header -X-Keyward-\*\n\s*forward_auth `)
		g.Expect(route.MatchString(conf)).To(BeTrue(), "%s: request_header -X-Keyward-* must be the route's first handler, before forward_auth", name)
		copyHeaders := regexp.MustCompile(`(?m)^\s*copy_headers (.+)$`).FindStringSubmatch(conf)
		g.Expect(copyHeaders).To(HaveLen(2), "%s: no copy_headers", name)
		copied := strings.Fields(copyHeaders[1])
		for _, h := range keywardHeaders {
			if h == HeaderStatus {
				continue // only on nginx's denials
			}
			g.Expect(copied).To(ContainElement(h), "%s: copy_headers does not copy %s", name, h)
		}
		g.Expect(conf).To(MatchRegexp(`(?m)^\s*uri /authz/(mtls/)?traefik$`), "%s: forward_auth sends X-Forwarded-Method and -Uri, the Traefik style", name)
		g.Expect(conf).NotTo(MatchRegexp(`(?m)^\s*trusted_proxies`), "%s: Caddy must replace a client's X-Forwarded-For, not extend it", name)
	}
	g.Expect(string(readProxyConfig(t, "Caddyfile-mtls"))).To(MatchRegexp(
		`(?m)^\s*header_up X-Forwarded-Tls-Client-Cert \{http\.request\.tls\.client\.certificate_der_base64\}$`),
		"the verifier must get the certificate of the connection, never the client's own header")
}

// TestAttackPlainProxySamplesClearTheCertificateHeader: nginx's
// auth_request and Caddy's forward_auth pass every header of the
// client's request to the verifier. The plain samples ask the plain
// endpoints, where the verifier never reads a certificate header, and
// clear the header besides, so that a client of a plain site of a proxy
// that also serves an mTLS site cannot write it; the mTLS samples ask the
// mTLS endpoints and set the header themselves. TestRealNginxMutualTLS
// and TestRealCaddyMutualTLS prove the effect with real proxies.
func TestAttackPlainProxySamplesClearTheCertificateHeader(t *testing.T) {
	g := NewWithT(t)
	for name, want := range map[string][]string{
		"nginx.conf": {
			`(?m)^\s*proxy_pass http://\{\{ \.Verifier \}\}` + regexp.QuoteMeta(NginxPath) + `;$`,
			`(?m)^\s*proxy_set_header X-SSL-Client-Cert "";$`,
		},
		"nginx-mtls.conf": {
			`(?m)^\s*proxy_pass http://\{\{ \.Verifier \}\}` + regexp.QuoteMeta(MTLSNginxPath) + `;$`,
			`(?m)^\s*proxy_set_header X-SSL-Client-Cert \$ssl_client_escaped_cert;$`,
		},
		"Caddyfile": {
			`(?m)^\s*uri ` + regexp.QuoteMeta(TraefikPath) + `$`,
			`(?m)^\s*header_up -X-Forwarded-Tls-Client-Cert$`,
		},
		"Caddyfile-mtls": {
			`(?m)^\s*uri ` + regexp.QuoteMeta(MTLSTraefikPath) + `$`,
		},
	} {
		conf := string(readProxyConfig(t, name))
		for _, re := range want {
			g.Expect(conf).To(MatchRegexp(re), "docs/proxies/%s", name)
		}
	}
}
