package verifier

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/scope"
)

// Paths the verifier serves on its decision port.
const (
	DecisionPath = "/v1/decision"
	// EnvoyPrefix is the path_prefix to configure in Envoy's ext_authz
	// HTTP service: Envoy appends the original path.
	EnvoyPrefix = "/authz/envoy"
	TraefikPath = "/authz/traefik"
	NginxPath   = "/authz/nginx"
	// The forward-auth endpoints of sites whose proxy terminates mutual
	// TLS: only on these is a trusted hop's client-certificate header
	// read. A proxy passes every header of a plain site's client to its
	// forward-auth request, so a header believed there would let that
	// client name anyone's (public) certificate as its own.
	MTLSEnvoyPrefix = "/authz/mtls/envoy"
	MTLSTraefikPath = "/authz/mtls/traefik"
	MTLSNginxPath   = "/authz/mtls/nginx"
)

// Identity headers on a Permit, for proxies to copy upstream.
const (
	HeaderKeyID        = "X-Keyward-Key-Id"
	HeaderOwner        = "X-Keyward-Owner"
	HeaderScopes       = "X-Keyward-Scopes"
	HeaderMatchedScope = "X-Keyward-Matched-Scope"
	HeaderSecret       = "X-Keyward-Secret"
)

const maxDecisionBody = 16 << 10

type handler struct {
	v          *Verifier
	cfg        compiledConfig
	bodies     answerMemo[denialBody, []byte]
	challenges answerMemo[challenge, []string]
	// untrustedEnvLog and untrustedCertLog throttle the log lines about
	// what untrusted callers sent and was ignored.
	untrustedEnvLog, untrustedCertLog logThrottle
	// tlsCerts remembers the client certificates of TLS connections.
	tlsCerts *certMemo[*x509.Certificate]
}

// Handlers are the verifier's two doors. Decisions serves the decision API
// and the forward-auth endpoints, for the proxies and services the operator
// trusts; Public serves the OAuth 2.0 endpoints (token, JWKS, metadata),
// which clients anywhere may need. Each answers 404 for the other's paths,
// so exposing the public port never exposes a decision.
type Handlers struct {
	Decisions http.Handler
	Public    http.Handler
}

// NewHandlers builds both doors over one Verifier and configuration.
func NewHandlers(v *Verifier, c Config) (Handlers, error) {
	cfg, err := c.compile()
	if err != nil {
		return Handlers{}, err
	}
	h := &handler{v: v, cfg: cfg, tlsCerts: newCertMemo[*x509.Certificate]()}
	decisions := http.NewServeMux()
	decisions.HandleFunc("POST "+DecisionPath, h.decision)
	public := http.NewServeMux()
	h.registerOAuth(public)
	h.registerLeaks(public)
	return Handlers{Decisions: decisionPort{h: h, mux: decisions}, Public: public}, nil
}

// decisionPort picks the forward-auth endpoints by plain comparison,
// without the ServeMux's pattern matching: they answer every request a
// proxy sees. Envoy's path is the prefix followed by the client's path,
// kept escaped.
type decisionPort struct {
	h   *handler
	mux *http.ServeMux
}

func (d decisionPort) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, EnvoyPrefix+"/"):
		d.h.forward(w, r, proxyStyle{envoyStyle, false})
	case p == TraefikPath:
		d.h.forward(w, r, proxyStyle{traefikStyle, false})
	case p == NginxPath:
		d.h.forward(w, r, proxyStyle{nginxStyle, false})
	case strings.HasPrefix(p, MTLSEnvoyPrefix+"/"):
		d.h.forward(w, r, proxyStyle{envoyStyle, true})
	case p == MTLSTraefikPath:
		d.h.forward(w, r, proxyStyle{traefikStyle, true})
	case p == MTLSNginxPath:
		d.h.forward(w, r, proxyStyle{nginxStyle, true})
	default:
		d.mux.ServeHTTP(w, r)
	}
}

// proxyKind is how one proxy passes the original request.
type proxyKind uint8

const (
	envoyStyle proxyKind = iota
	traefikStyle
	nginxStyle
)

// proxyStyle is the forward-auth endpoint a request came to: the proxy's
// kind, and whether it is one for mutual-TLS sites, where a trusted hop's
// client-certificate header is read.
type proxyStyle struct {
	kind proxyKind
	mTLS bool
}

// original returns the method and URI (path and query) of the request the
// proxy asks about.
func (s proxyStyle) original(r *http.Request) (method, uri string) {
	switch s.kind {
	case envoyStyle:
		prefix := EnvoyPrefix
		if s.mTLS {
			prefix = MTLSEnvoyPrefix
		}
		uri = strings.TrimPrefix(r.URL.EscapedPath(), prefix)
		if r.URL.RawQuery != "" {
			uri += "?" + r.URL.RawQuery
		}
		return r.Method, uri
	case traefikStyle:
		return r.Header.Get("X-Forwarded-Method"), r.Header.Get("X-Forwarded-Uri")
	default:
		return r.Header.Get("X-Original-Method"), r.Header.Get("X-Original-URI")
	}
}

func (h *handler) forward(w http.ResponseWriter, r *http.Request, style proxyStyle) {
	method, uri := style.original(r)
	path, query, _ := strings.Cut(uri, "?")
	req := Request{Env: h.environment(r), Peer: peerAddr(r)}
	req.Credential, req.CredentialProblem = ExtractCredential(r.Header, h.cfg.apiKeyHeaders)
	req.ClientCertificate, req.ClientCertificateErr = h.clientCertificate(r, req.Peer, h.cfg.forwarded, style.mTLS)
	var d Decision
	switch res, act, cost, ok := h.cfg.router.matchCost(method, path); {
	case credentialInQuery(query):
		d = h.v.refuse(req, deny(ReasonCredentialInQuery, "credentials are not accepted in the query string"))
	case !ok:
		d = h.v.refuse(req, Decision{Result: NotApplicable, Reason: ReasonNoRoute, Message: "no route maps this request to a protected resource"})
	default:
		req.Resource, req.Action, req.Cost = res, act, cost
		d = h.v.Decide(r.Context(), req)
	}
	h.writeForward(w, style, d)
}

// environment reads what the configured trusted headers say, and places
// the client by its address when no header does.
func (h *handler) environment(r *http.Request) access.Environment {
	env := access.Environment{Address: h.cfg.clientAddress.from(r)}
	if h.cfg.countryHeader != "" {
		env.Country = strings.TrimSpace(firstValue(r.Header, h.cfg.countryHeader))
	}
	h.placeClient(&env)
	if h.cfg.deviceHeader != "" {
		env.Device = parseDevice(firstValue(r.Header, h.cfg.deviceHeader))
	}
	return env
}

// firstValue is Header.Get for a name already in canonical form: the
// per-request path skips canonicalising a name that config did once.
func firstValue(h http.Header, canonical string) string {
	if vs := h[canonical]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// placeClient gives a request without a country the one the GeoIP
// database puts its client address in. A country already there came from
// a trusted edge (the country header, a trusted caller's environment),
// which knows better than a database: it wins.
func (h *handler) placeClient(env *access.Environment) {
	if env.Country == "" && env.Address.IsValid() {
		env.Country = h.v.geo.Country(env.Address)
	}
}

func parseDevice(v string) access.Device {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "compliant":
		return access.DeviceCompliant
	case "":
		return access.DeviceUnknown
	}
	return access.DeviceNonCompliant
}

// writeForward answers a proxy: 200 with identity headers on Permit; 401 for
// credential problems; 403 for everything else that is not a Permit. Never a
// 5xx: proxies treat those as errors, and some can be configured to let
// traffic through on error.
func (h *handler) writeForward(w http.ResponseWriter, style proxyStyle, d Decision) {
	hdr := w.Header()
	hdr["Cache-Control"] = noStore
	if d.RateLimit.Policy != "" {
		writeRateLimitHeaders(hdr, d)
	}
	if d.Result == Permit {
		e := d.entry
		hdr[HeaderKeyID] = e.keyIDHeader
		hdr[HeaderOwner] = e.ownerHeader
		hdr[HeaderScopes] = e.scopesHeader
		if d.tokenScopes != nil {
			hdr[HeaderScopes] = d.tokenScopes
		}
		hdr[HeaderMatchedScope] = e.matchedHeaders[d.matched]
		hdr[HeaderSecret] = secretHeaders[d.Secret]
		w.WriteHeader(http.StatusOK)
		return
	}
	status := http.StatusForbidden
	var c challenge
	switch {
	case d.Reason == ReasonMissingCredential:
		status = http.StatusUnauthorized
	case d.Reason == ReasonMalformedRequest || d.Reason == ReasonCredentialInQuery:
		// nginx turns anything but 401 and 403 from auth_request into a 500.
		status = http.StatusBadRequest
		if style.kind == nginxStyle {
			status = http.StatusUnauthorized
		}
		c = challenge{code: "invalid_request", description: d.Message}
	case d.Reason == ReasonRateLimited || d.Reason == ReasonQuotaExhausted:
		// nginx's auth_request passes on only 401 and 403.
		status = http.StatusTooManyRequests
		if style.kind == nginxStyle {
			status = http.StatusForbidden
			hdr[canonicalStatus] = tooManyRequests
		}
	case credentialReason(d.Reason):
		status = http.StatusUnauthorized
		c = challenge{code: "invalid_token", description: d.Message}
	case d.Result == Deny || d.Result == NotApplicable:
		c = challenge{code: "insufficient_scope", description: d.Message, scope: d.RequiredScope}
	}
	hdr[canonicalChallenge] = h.challengeHeader(c)
	if d.RetryAfter != nil {
		hdr[canonicalRetryAfter] = retryAfterHeader(d.RetryAfter.Sub(h.v.clock.Now()))
	} else if d.Result == Indeterminate {
		hdr[canonicalRetryAfter] = retryAfterHeaders[1]
	}
	hdr["Content-Type"] = jsonType
	w.WriteHeader(status)
	_, _ = w.Write(h.denialBody(d))
}

// denialBody reaches the client through the proxy: it says what and why,
// but not the key's owner. Its few distinct values are encoded once.
type denialBody struct {
	Result  Result `json:"decision"`
	Reason  Reason `json:"reason"`
	Message string `json:"message,omitempty"`
}

func (h *handler) denialBody(d Decision) []byte {
	return h.bodies.get(denialBody{d.Result, d.Reason, d.Message}, func(k denialBody) []byte {
		b, _ := json.Marshal(k)
		return append(b, '\n')
	})
}

// challenge is what a WWW-Authenticate header says besides the realm: the
// RFC 6750 error code (none for a missing credential), the description and
// the scope.
type challenge struct{ code, description, scope string }

// challengeHeader is the header's value, as net/http holds it.
func (h *handler) challengeHeader(c challenge) []string {
	return h.challenges.get(c, func(c challenge) []string {
		v := `Bearer realm="` + h.cfg.realm + `"`
		if c.code != "" {
			v += `, error="` + c.code + `", error_description="` + quotable(c.description) + `"`
		}
		if c.scope != "" {
			v += `, scope="` + quotable(c.scope) + `"`
		}
		return []string{v}
	})
}

// Header names as net/http keys them, set without canonicalising each time.
const (
	canonicalChallenge  = "Www-Authenticate"
	canonicalRetryAfter = "Retry-After"
)

// retryAfterHeaders are the Retry-After values of the default backoff's
// delays, up to five minutes, made once: a flood in backoff is answered
// with them.
var retryAfterHeaders = func() [][]string {
	v := make([][]string, 301)
	for i := range v {
		v[i] = []string{strconv.Itoa(i)}
	}
	return v
}()

// retryAfterHeader is Retry-After for a wait of d, as net/http holds it.
func retryAfterHeader(d time.Duration) []string {
	if s := max(1, ceilSeconds(d)); s < int64(len(retryAfterHeaders)) {
		return retryAfterHeaders[s]
	}
	return []string{retryAfter(d)}
}

// Header values shared by every response; net/http only reads them.
var (
	noStore       = []string{"no-store"}
	jsonType      = []string{"application/json"}
	secretHeaders = map[Secret][]string{SecretCurrent: {string(SecretCurrent)}, SecretPrevious: {string(SecretPrevious)}}
)

// quotable keeps only the characters RFC 6750 allows inside a quoted
// error_description or scope.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == 0x20 || r == 0x21 || (r >= 0x23 && r <= 0x5B) || (r >= 0x5D && r <= 0x7E) {
			return r
		}
		return -1
	}, s)
}

// DecisionRequest is the decision API's JSON request, in XACML 3.0's four
// attribute categories.
type DecisionRequest struct {
	Subject struct {
		// Credential is the key as the client presented it.
		Credential string `json:"credential"`
	} `json:"subject"`
	Resource struct {
		Org     string `json:"org"`
		Project string `json:"project"`
		Type    string `json:"type"`
		ID      string `json:"id,omitempty"`
	} `json:"resource"`
	Action struct {
		// ID is read, write, delete, execute or admin.
		ID string `json:"id"`
	} `json:"action"`
	// Environment is believed only from a trusted caller (the
	// configuration's trustedCallers); from anyone else it is ignored.
	Environment struct {
		// Address is the client's IP address.
		Address string `json:"address,omitempty"`
		// Time is when the request is made (RFC 3339), for time windows;
		// the verifier's clock when empty. Expiry always uses the clock.
		Time *time.Time `json:"time,omitempty"`
		// Country is an ISO 3166-1 alpha-2 code.
		Country string `json:"country,omitempty"`
		// Network is a network class name, trusted only without Address.
		Network string `json:"network,omitempty"`
		// Device is "compliant" or "noncompliant".
		Device string `json:"device,omitempty"`
	} `json:"environment"`
}

func (h *handler) decision(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	req, err := h.parseDecision(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, Decision{Result: Indeterminate, Reason: ReasonMalformedRequest, Message: err.Error()})
		return
	}
	req.Peer = peerAddr(r)
	h.trustEnvironment(&req, r)
	h.placeClient(&req.Env)
	writeJSON(w, http.StatusOK, h.v.Decide(r.Context(), req))
}

func (h *handler) parseDecision(r *http.Request) (Request, error) {
	if r.URL.RawQuery != "" {
		return Request{}, errors.New("the decision API takes no query parameters")
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxDecisionBody))
	dec.DisallowUnknownFields()
	var in DecisionRequest
	if err := dec.Decode(&in); err != nil {
		return Request{}, errors.New("the body is not a decision request: " + err.Error())
	}
	var req Request
	req.Credential = in.Subject.Credential
	if req.Credential == "" {
		req.CredentialProblem = CredentialMissing
	}
	req.Resource = scope.Resource{Org: in.Resource.Org, Project: in.Resource.Project, Type: in.Resource.Type, ID: in.Resource.ID}
	if req.Resource.Org == "" || req.Resource.Project == "" || req.Resource.Type == "" {
		return Request{}, errors.New("resource.org, resource.project and resource.type are required")
	}
	act, err := scope.ParseAction(in.Action.ID)
	if err != nil {
		return Request{}, errors.New("action.id: " + err.Error())
	}
	req.Action = act
	env := &in.Environment
	if env.Address != "" {
		a, err := netip.ParseAddr(env.Address)
		if err != nil {
			return Request{}, errors.New("environment.address is not an IP address")
		}
		req.Env.Address = a.Unmap()
	}
	if env.Time != nil {
		req.Env.Time = *env.Time
	}
	req.Env.Country, req.Env.Network, req.Env.Device = env.Country, env.Network, parseDevice(env.Device)
	return req, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// retryAfter is a Retry-After value: whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string { return strconv.FormatInt(max(1, ceilSeconds(d)), 10) }
