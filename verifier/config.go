package verifier

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/geoip"
)

// Config is the verifier's request-facing configuration, read from the YAML
// file given by --config. Every field is optional.
type Config struct {
	// Realm is the RFC 6750 realm of challenges (default "keyward").
	Realm string `json:"realm,omitempty"`
	// APIKeyHeaders are headers that may carry a key besides
	// "Authorization: Bearer" (default ["Argus-API-Key"]). Keys are never
	// read from the query string.
	APIKeyHeaders []string `json:"apiKeyHeaders,omitempty"`
	// TrustedCallers are the networks (CIDRs) of callers whose decision
	// requests may state the environment: environment.address, time,
	// country, network and device. The connection's peer address decides,
	// never a header. From any other caller the environment is ignored and
	// conditions that need it fail closed. Default: none, since no address
	// is safe to trust without knowing the deployment (a service mesh's
	// sidecar, for one, connects from loopback on every client's behalf).
	TrustedCallers []string `json:"trustedCallers,omitempty"`
	// ClientAddress says which header carries the client address and how
	// many proxy hops to trust.
	ClientAddress ClientAddress `json:"clientAddress,omitzero"`
	// CountryHeader is a header your edge sets to the client's ISO 3166-1
	// alpha-2 country, overwriting whatever the client sent. A request
	// that carries it is placed by it, even with a GeoIP database: the
	// edge that set it knows better. Unset (the default), and without a
	// GeoIP database, country conditions deny every request: a header a
	// client could forge is never trusted by default.
	CountryHeader string `json:"countryHeader,omitempty"`
	// GeoIP places each request by its client address in a MaxMind
	// database, for country conditions and usage analytics, when no
	// trusted country header (CountryHeader, or a trusted caller's
	// environment.country) says otherwise.
	GeoIP GeoIPConfig `json:"geoip,omitzero"`
	// DeviceHeader is a header your edge sets to "compliant" or
	// "noncompliant", overwriting the client's. Unset, device conditions deny.
	DeviceHeader string `json:"deviceHeader,omitempty"`
	// NetworkClasses names groups of networks that keys may require, e.g.
	// {"corporate": ["10.0.0.0/8"], "vpn": ["100.64.0.0/10"]}.
	NetworkClasses map[string][]string `json:"networkClasses,omitempty"`
	// Routes map forwarded requests to resources and actions (default
	// DefaultRoutes); the first match wins.
	Routes []Route `json:"routes,omitempty"`
	// RateLimits says where the counters of keys' rate limits live (in
	// memory, or in Redis shared by the replicas) and limits the
	// verifications that need hashing.
	RateLimits RateLimits `json:"rateLimits,omitzero"`
	// OAuth turns on the token endpoint, the JWKS and JWT bearer tokens.
	OAuth OAuthConfig `json:"oauth,omitzero"`
	// ClientCertificates configures authentication with client
	// certificates (mutual TLS): the CAs bindings may name, and the proxy
	// header a certificate may come in.
	ClientCertificates ClientCertificates `json:"clientCertificates,omitzero"`
	// LeakReports turns on the leaked-key report endpoints on the public
	// port (docs/leaks.md).
	LeakReports LeakReportsConfig `json:"leakReports,omitzero"`
	// Analytics configures the counting of each key's use for
	// status.usage and anomaly detection (docs/analytics.md).
	Analytics AnalyticsConfig `json:"analytics,omitzero"`
}

// GeoIPConfig names a MaxMind-format country database.
type GeoIPConfig struct {
	// DatabasePath is a GeoLite2 or GeoIP2 Country or City database
	// (.mmdb), read at start and again whenever the file changes (for
	// example when geoipupdate replaces it); a new file that does not
	// load leaves the one in use.
	DatabasePath string `json:"databasePath,omitempty"`
}

// LoadGeoIP opens the configured database; nil without one.
func LoadGeoIP(c GeoIPConfig) (*geoip.DB, error) {
	if c.DatabasePath == "" {
		return nil, nil
	}
	db, err := geoip.Open(c.DatabasePath)
	if err != nil {
		return nil, fmt.Errorf("geoip.databasePath: %w", err)
	}
	return db, nil
}

// ClientCertificates configures mutual-TLS authentication.
type ClientCertificates struct {
	// Authorities are the CAs that keys' certificate bindings name.
	Authorities []CertificateAuthority `json:"authorities,omitempty"`
	// Forwarded, when set, takes the client certificate from a header
	// set by a proxy that terminates TLS, on the decision port's
	// forward-auth endpoints for mutual-TLS sites (/authz/mtls/...) and
	// from its trusted hops only. Without it, only the certificate of the
	// connection's own TLS handshake is used.
	Forwarded *ForwardedCertificate `json:"forwarded,omitempty"`
	// PublicForwarded, when set, does the same for the public port's
	// token endpoint, behind a proxy that terminates mutual TLS for it.
	// It is a setting of its own: the proxies in front of the public port
	// are rarely those in front of the decision port, and an ordinary
	// ingress passes a client's own header on.
	PublicForwarded *ForwardedCertificate `json:"publicForwarded,omitempty"`
}

// LoadConfig reads a Config file, refusing unknown fields so a typo never
// silently weakens enforcement. An empty path gives the defaults.
func LoadConfig(path string) (Config, error) {
	if path == "" {
		return Config{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig reads a configuration file's content as LoadConfig does; the
// manager reads the deployed verifier's from its ConfigMap.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// ActivitySink is where a verifier with a configuration puts its usage
// activity: the manager must read it from the same place.
type ActivitySink struct {
	// Aggregation is AggregationEmbedded or AggregationRedis, or "" with
	// analytics off.
	Aggregation string
	// RedisAddress, RedisDB and RedisPrefix name the Redis database and
	// the key prefix of the redis aggregation.
	RedisAddress string
	RedisDB      int
	RedisPrefix  string
}

// ActivitySink says where this configuration's activity goes.
func (c Config) ActivitySink() (ActivitySink, error) {
	plan, err := c.Analytics.compile(c.RateLimits)
	if err != nil || !plan.enabled {
		return ActivitySink{}, err
	}
	sink := ActivitySink{Aggregation: plan.aggregation}
	if plan.aggregation == AggregationRedis {
		r := c.RateLimits.Redis
		if r == nil {
			return ActivitySink{}, fmt.Errorf("analytics.aggregation: redis needs rateLimits.redis")
		}
		sink.RedisAddress, sink.RedisDB, sink.RedisPrefix = r.Address, r.DB, activityPrefix(r.Prefix)
	}
	return sink, nil
}

// Validate reports every problem of the configuration that would stop the
// verifier from serving, so that it fails at start rather than later.
func (c Config) Validate() error {
	if _, err := c.Classes(); err != nil {
		return err
	}
	if _, err := c.RateLimits.compile(); err != nil {
		return err
	}
	if _, err := c.OAuth.compile(); err != nil {
		return err
	}
	if _, err := LoadAuthorities(c.ClientCertificates.Authorities); err != nil {
		return err
	}
	if _, err := c.Analytics.compile(c.RateLimits); err != nil {
		return err
	}
	if _, err := LoadGeoIP(c.GeoIP); err != nil {
		return err
	}
	if c.LeakReports.GitHub != nil {
		if _, err := c.LeakReports.GitHub.compile(); err != nil {
			return err
		}
	}
	_, err := c.compile()
	return err
}

// Classes parses the network classes.
func (c Config) Classes() (access.Classes, error) {
	cl, err := access.ParseClasses(c.NetworkClasses)
	if err != nil {
		return access.Classes{}, fmt.Errorf("networkClasses: %w", err)
	}
	return cl, nil
}

// compiledConfig is a Config checked and with defaults applied.
type compiledConfig struct {
	realm         string
	apiKeyHeaders []string
	clientAddress ClientAddress
	countryHeader string
	deviceHeader  string
	router        router
	// trustedCallers may state a decision request's environment.
	trustedCallers []netip.Prefix
	// forwarded and publicForwarded, when set, say where trusted proxies
	// put the client certificate, for the decision and the public port.
	forwarded, publicForwarded *forwardedCert
}

// canonicalOrEmpty is a configured header name as net/http stores what it
// read, so that each request indexes the header map directly.
func canonicalOrEmpty(name string) string {
	if name == "" {
		return ""
	}
	return http.CanonicalHeaderKey(name)
}

func (c Config) compile() (compiledConfig, error) {
	out := compiledConfig{
		realm: c.Realm, apiKeyHeaders: c.APIKeyHeaders, clientAddress: c.ClientAddress.withDefaults(),
		countryHeader: canonicalOrEmpty(c.CountryHeader), deviceHeader: canonicalOrEmpty(c.DeviceHeader),
	}
	if out.realm == "" {
		out.realm = "keyward"
	}
	if strings.ContainsAny(out.realm, "\"\\") {
		return compiledConfig{}, fmt.Errorf("realm must not contain quotes or backslashes")
	}
	if out.apiKeyHeaders == nil {
		out.apiKeyHeaders = []string{"Argus-API-Key"}
	}
	out.apiKeyHeaders = slices.Clone(out.apiKeyHeaders)
	for i, h := range out.apiKeyHeaders {
		if strings.EqualFold(h, "Authorization") || h == "" || strings.ContainsAny(h, " :") {
			return compiledConfig{}, fmt.Errorf("apiKeyHeaders[%d]: %q is not a usable header name", i, h)
		}
		out.apiKeyHeaders[i] = http.CanonicalHeaderKey(h)
	}
	var err error
	if out.trustedCallers, err = compileTrustedCallers(c.TrustedCallers); err != nil {
		return compiledConfig{}, err
	}
	if out.forwarded, err = c.ClientCertificates.Forwarded.compile("clientCertificates.forwarded"); err != nil {
		return compiledConfig{}, err
	}
	if out.publicForwarded, err = c.ClientCertificates.PublicForwarded.compile("clientCertificates.publicForwarded"); err != nil {
		return compiledConfig{}, err
	}
	routes := c.Routes
	if len(routes) == 0 {
		routes = DefaultRoutes
	}
	if out.router, err = compileRoutes(routes); err != nil {
		return compiledConfig{}, err
	}
	return out, nil
}
