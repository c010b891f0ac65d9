package verifier

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// OAuthConfig turns on the token endpoint, the JWKS, the metadata documents
// and JWT bearer validation. Without an issuer none of them is served and
// every JWT is refused.
type OAuthConfig struct {
	// Issuer is the iss of issued tokens and the URL clients reach the
	// verifier at (https, no query or fragment).
	Issuer string `json:"issuer,omitempty"`
	// MutualTLSBaseURL is where clients reach the public port with a
	// client certificate (https, no query or fragment): a TLS listener of
	// the verifier that asks for certificates, or a proxy that terminates
	// mutual TLS and passes the certificate on from a trusted hop. Set, the
	// metadata advertises tls_client_auth and self_signed_tls_client_auth
	// and names the token endpoint there in mtls_endpoint_aliases (RFC 8705
	// §5). It may equal Issuer when the public port itself asks for
	// certificates.
	MutualTLSBaseURL string `json:"mutualTLSBaseURL,omitempty"`
	// Audience is the aud of issued tokens and the audience JWT bearer
	// validation requires (default: Issuer).
	Audience string `json:"audience,omitempty"`
	// TokenLifetimeSeconds is how long issued tokens live (default 300).
	// The signing key's own token lifetime caps it, because its retirement
	// from the JWKS is computed from that.
	TokenLifetimeSeconds int `json:"tokenLifetimeSeconds,omitempty"`
	// LeewaySeconds absorbs clock differences on exp, nbf and iat
	// (default 30, at most 300).
	LeewaySeconds int `json:"leewaySeconds,omitempty"`
	// JWKSMaxAgeSeconds caps the Cache-Control max-age of the JWKS and the
	// metadata (default 300); the rotation overlap caps it further.
	JWKSMaxAgeSeconds int `json:"jwksMaxAgeSeconds,omitempty"`
	// MaxAssertionLifetimeSeconds bounds exp - iat of client assertions
	// (default 300): a long-lived assertion is a reusable password.
	MaxAssertionLifetimeSeconds int `json:"maxAssertionLifetimeSeconds,omitempty"`
	// ClockSkewThresholdSeconds is how far a client's clock offset may move
	// between two assertions (default 30); ClockSkewTimeoutSeconds how long
	// a client whose offset jumped is refused (default 600).
	ClockSkewThresholdSeconds int `json:"clockSkewThresholdSeconds,omitempty"`
	ClockSkewTimeoutSeconds   int `json:"clockSkewTimeoutSeconds,omitempty"`
	// TokenCacheSize, ReplayCacheSize, ReplayPerClient and SkewTracked cap
	// the validated-token cache, the assertion jti cache (in all and per
	// client key) and the clients tracked for clock skew.
	TokenCacheSize  int `json:"tokenCacheSize,omitempty"`
	ReplayCacheSize int `json:"replayCacheSize,omitempty"`
	ReplayPerClient int `json:"replayPerClient,omitempty"`
	SkewTracked     int `json:"skewTracked,omitempty"`
}

// oauthSettings is an OAuthConfig checked and with defaults applied.
type oauthSettings struct {
	enabled                          bool
	issuer, audience                 string
	mutualTLSBase                    string
	tokenLifetime, leeway, jwksAge   time.Duration
	maxAssertion, skewStep, skewWait time.Duration
	tokenCache, replay, perClient    int
	skewTracked                      int
}

func secondsOr(n, def int) time.Duration {
	if n <= 0 {
		n = def
	}
	return time.Duration(n) * time.Second
}

func intOr(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

func (c OAuthConfig) compile() (oauthSettings, error) {
	if c.Issuer == "" {
		if c != (OAuthConfig{}) {
			return oauthSettings{}, errors.New("oauth: issuer is required when any other oauth field is set")
		}
		return oauthSettings{}, nil
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return oauthSettings{}, fmt.Errorf("oauth.issuer: %q is not an absolute http(s) URL without query or fragment (RFC 8414 §2)", c.Issuer)
	}
	if c.MutualTLSBaseURL != "" {
		u, err := url.Parse(c.MutualTLSBaseURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return oauthSettings{}, fmt.Errorf("oauth.mutualTLSBaseURL: %q is not an absolute https URL without query or fragment (mutual TLS needs TLS)", c.MutualTLSBaseURL)
		}
	}
	for name, v := range map[string]int{
		"tokenLifetimeSeconds": c.TokenLifetimeSeconds, "leewaySeconds": c.LeewaySeconds,
		"jwksMaxAgeSeconds": c.JWKSMaxAgeSeconds, "maxAssertionLifetimeSeconds": c.MaxAssertionLifetimeSeconds,
		"clockSkewThresholdSeconds": c.ClockSkewThresholdSeconds, "clockSkewTimeoutSeconds": c.ClockSkewTimeoutSeconds,
		"tokenCacheSize": c.TokenCacheSize, "replayCacheSize": c.ReplayCacheSize,
		"replayPerClient": c.ReplayPerClient, "skewTracked": c.SkewTracked,
	} {
		if v < 0 {
			return oauthSettings{}, fmt.Errorf("oauth.%s: %d is negative", name, v)
		}
	}
	if c.LeewaySeconds > 300 {
		return oauthSettings{}, fmt.Errorf("oauth.leewaySeconds: %d is more than 300", c.LeewaySeconds)
	}
	s := oauthSettings{
		enabled: true, issuer: c.Issuer, audience: c.Audience,
		mutualTLSBase: strings.TrimSuffix(c.MutualTLSBaseURL, "/"),
		tokenLifetime: secondsOr(c.TokenLifetimeSeconds, 300), leeway: secondsOr(c.LeewaySeconds, 30),
		jwksAge: secondsOr(c.JWKSMaxAgeSeconds, 300), maxAssertion: secondsOr(c.MaxAssertionLifetimeSeconds, 300),
		skewStep: secondsOr(c.ClockSkewThresholdSeconds, 30), skewWait: secondsOr(c.ClockSkewTimeoutSeconds, 600),
		tokenCache: intOr(c.TokenCacheSize, 100_000), replay: intOr(c.ReplayCacheSize, 100_000),
		perClient: intOr(c.ReplayPerClient, 1000), skewTracked: intOr(c.SkewTracked, 10_000),
	}
	if s.audience == "" {
		s.audience = s.issuer
	}
	return s, nil
}
