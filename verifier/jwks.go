package verifier

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Paths of the OAuth 2.0 endpoints, served on the public port when OAuth
// is configured.
const (
	JWKSPath          = "/.well-known/jwks.json"
	ASMetadataPath    = "/.well-known/oauth-authorization-server"
	OIDCDiscoveryPath = "/.well-known/openid-configuration"
	TokenPath         = "/oauth2/token"
)

// registerOAuth adds the token endpoint, the JWKS and the metadata to the
// public port's mux when the verifier has Tokens.
func (h *handler) registerOAuth(mux *http.ServeMux) {
	t := h.v.tokens
	if t == nil {
		return
	}
	mux.HandleFunc("GET "+JWKSPath, h.jwks)
	mux.HandleFunc("GET "+ASMetadataPath, h.metadata)
	mux.HandleFunc("GET "+OIDCDiscoveryPath, h.metadata)
	mux.HandleFunc("POST "+TokenPath, h.token)
}

// jwks publishes the issuer keys (RFC 7517). Its max-age never exceeds a
// rotation's publish-ahead time, so every cache has fetched a new key
// before the first token it signs arrives.
func (h *handler) jwks(w http.ResponseWriter, _ *http.Request) {
	t := h.v.tokens
	now := h.v.clock.Now()
	if h.v.signingStale(now) {
		// The set may still hold a key withdrawn since; relying parties
		// keep the set they fetched before.
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable", Description: "the verifier has not known its signing keys current for too long to publish them"})
		return
	}
	set, age := t.keys.jwks(now, t.set.jwksAge)
	b, err := json.Marshal(set)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable", Description: "the key set cannot be encoded"})
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	setMaxAge(w, age)
	_, _ = w.Write(append(b, '\n'))
}

// metadata is both the RFC 8414 document and the OpenID discovery one:
// OpenID relying parties insist on its three required fields, which are
// true of a verifier that issues no ID tokens.
//
// tls_client_certificate_bound_access_tokens is always true: the verifier
// binds every token requested with a client certificate and refuses a
// bound token without it, wherever the certificate came from (RFC 8705
// §3.3). The mTLS client authentication methods and the endpoint aliases
// are advertised only where clients can present a certificate, the
// configured mutual-TLS base URL.
func (h *handler) metadata(w http.ResponseWriter, _ *http.Request) {
	t := h.v.tokens
	_, age := t.keys.jwks(h.v.clock.Now(), t.set.jwksAge)
	algs := []string{"RS256", "ES256"}
	methods := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	doc := map[string]any{
		"issuer":                t.set.issuer,
		"token_endpoint":        t.set.issuer + TokenPath,
		"jwks_uri":              t.set.issuer + JWKSPath,
		"grant_types_supported": []string{"client_credentials"},
		"token_endpoint_auth_signing_alg_values_supported": algs,
		"response_types_supported":                         []string{"token"},
		"subject_types_supported":                          []string{"public"},
		"id_token_signing_alg_values_supported":            algs,
		"tls_client_certificate_bound_access_tokens":       true,
	}
	if base := t.set.mutualTLSBase; base != "" {
		methods = append(methods, authTLSClient, authSelfSignedTLSClient)
		doc["mtls_endpoint_aliases"] = map[string]string{"token_endpoint": base + TokenPath}
	}
	doc["token_endpoint_auth_methods_supported"] = methods
	setMaxAge(w, age)
	writeJSON(w, http.StatusOK, doc)
}

func setMaxAge(w http.ResponseWriter, age time.Duration) {
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(age/time.Second)))
}
