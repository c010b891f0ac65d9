package verifier

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/scope"
	"github.com/keyward-dev/keyward/internal/token"
)

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// tokenResponse is an RFC 6749 §5.1 success response.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

const (
	maxTokenRequest    = 16 << 10
	jwtBearerAssertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// tokenRequestError is a refusal with its status; basic asks for a
// WWW-Authenticate challenge (RFC 6749 §5.2, invalid_client with Basic).
type tokenRequestError struct {
	status int
	oauthError
	basic      bool
	retryAfter time.Duration
}

func tokenErr(status int, code, desc string) *tokenRequestError {
	return &tokenRequestError{status: status, oauthError: oauthError{Error: code, Description: desc}}
}

// token is the client credentials grant (RFC 6749 §4.4): the client
// authenticates with its API key (key ID as client_id, the key as secret)
// or with an assertion signed by its enrolled client key (RFC 7523 §2.2),
// and gets a short-lived JWT for a subset of the key's scopes.
func (h *handler) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	resp, terr := h.issueToken(r)
	if terr != nil {
		h.v.tokens.metrics.refused.WithLabelValues(terr.Error).Inc()
		if terr.basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+h.cfg.realm+`"`)
		}
		if terr.retryAfter > 0 {
			w.Header().Set("Retry-After", retryAfter(terr.retryAfter))
		}
		writeJSON(w, terr.status, terr.oauthError)
		return
	}
	h.v.tokens.metrics.issued.Inc()
	writeJSON(w, http.StatusOK, resp)
}

func (h *handler) issueToken(r *http.Request) (tokenResponse, *tokenRequestError) {
	form, terr := tokenForm(r)
	if terr != nil {
		return tokenResponse{}, terr
	}
	switch gt := form.Get("grant_type"); gt {
	case "":
		return tokenResponse{}, tokenErr(http.StatusBadRequest, "invalid_request", "grant_type is required")
	case "client_credentials":
	default:
		return tokenResponse{}, tokenErr(http.StatusBadRequest, "unsupported_grant_type", "only grant_type=client_credentials is supported")
	}
	v := h.v
	now := v.clock.Now()
	if !v.ready() || v.stale(now) || v.signingStale(now) {
		return tokenResponse{}, &tokenRequestError{status: http.StatusServiceUnavailable, retryAfter: time.Second,
			oauthError: oauthError{Error: "temporarily_unavailable", Description: "the verifier cannot authenticate clients right now"}}
	}
	cert, err := h.tokenClientCertificate(r)
	if err != nil {
		// Issuing an unbound token to a client that used mutual TLS would
		// quietly drop the binding it asked for.
		return tokenResponse{}, tokenErr(http.StatusBadRequest, "invalid_request", err.Error())
	}
	e, terr := h.authenticateClient(r, form, cert, now)
	if terr != nil {
		return tokenResponse{}, terr
	}
	// A key that must come with its certificate gets no token without it,
	// whichever way it authenticated: the token would carry the key's
	// rights without the certificate.
	if cerr := v.requireBoundCertificate(e, cert, now); cerr != nil {
		return tokenResponse{}, tokenErr(http.StatusUnauthorized, "invalid_client", "the key must come with its client certificate: "+cerr.Message)
	}
	granted, terr := grantedScopes(e, form.Get("scope"))
	if terr != nil {
		return tokenResponse{}, terr
	}
	// A token costs an RSA signature: it spends from the key's limits like
	// a read, so a key cannot mint tokens faster than it may make requests.
	if d := v.spend(r.Context(), withKey(Decision{Result: Permit, Reason: ReasonAllowed}, e), Request{Action: scope.Read}, now); d.Result != Permit {
		terr := &tokenRequestError{status: http.StatusTooManyRequests,
			oauthError: oauthError{Error: "temporarily_unavailable", Description: d.Message}}
		if d.Result == Indeterminate {
			terr.status = http.StatusServiceUnavailable
		}
		terr.retryAfter = time.Second
		if d.RetryAfter != nil {
			terr.retryAfter = d.RetryAfter.Sub(now)
		}
		return tokenResponse{}, terr
	}
	t := v.tokens
	signer, srec, ok := t.keys.activeSigner(now)
	if !ok {
		return tokenResponse{}, &tokenRequestError{status: http.StatusServiceUnavailable, retryAfter: time.Second,
			oauthError: oauthError{Error: "temporarily_unavailable", Description: "no issuer key is active"}}
	}
	ttl := t.tokenLifetime(srec.TokenLifetime)
	raw, err := token.Sign(*signer, token.Claims{
		Issuer: t.set.issuer, Subject: e.Record.KeyID, Audience: []string{t.set.audience},
		Expiry: now.Add(ttl), NotBefore: now, IssuedAt: now, Scope: granted,
		// RFC 8705 §3: a client that used mutual TLS gets a token bound to
		// its certificate, whichever way it authenticated.
		CertThumbprint: cert.Thumbprint(),
	})
	if err != nil {
		return tokenResponse{}, &tokenRequestError{status: http.StatusServiceUnavailable, retryAfter: time.Second,
			oauthError: oauthError{Error: "temporarily_unavailable", Description: "the token could not be signed"}}
	}
	return tokenResponse{AccessToken: raw, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second), Scope: granted}, nil
}

// tokenForm reads the form body. Parameters in the query are refused
// (RFC 6749 §2.3.1: credentials only in the body), and so are repeated
// ones (§3.2).
func tokenForm(r *http.Request) (url.Values, *tokenRequestError) {
	if r.URL.RawQuery != "" {
		return nil, tokenErr(http.StatusBadRequest, "invalid_request", "parameters belong in the form body, not the query")
	}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return nil, tokenErr(http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxTokenRequest)
	if err := r.ParseForm(); err != nil {
		return nil, tokenErr(http.StatusBadRequest, "invalid_request", "the form body does not parse")
	}
	for name, vs := range r.PostForm {
		if len(vs) > 1 {
			return nil, tokenErr(http.StatusBadRequest, "invalid_request", "parameter "+quotable(name)+" is repeated")
		}
	}
	return r.PostForm, nil
}

// authenticateClient finds the key the client proves it holds, by exactly
// one of client_secret_basic, client_secret_post or private_key_jwt, or,
// with none of them, by the client certificate (tls_client_auth or
// self_signed_tls_client_auth).
func (h *handler) authenticateClient(r *http.Request, form url.Values, cert ClientCertificate, now time.Time) (*Entry, *tokenRequestError) {
	basicID, basicSecret, basic := r.BasicAuth()
	if !basic && r.Header.Get("Authorization") != "" {
		return nil, tokenErr(http.StatusBadRequest, "invalid_request", "the Authorization header must use the Basic scheme")
	}
	postID, postSecret := form.Get("client_id"), form.Get("client_secret")
	assertion := form.Get("client_assertion")
	methods := 0
	for _, used := range []bool{basic, postSecret != "", assertion != ""} {
		if used {
			methods++
		}
	}
	switch {
	case methods > 1:
		return nil, tokenErr(http.StatusBadRequest, "invalid_request", "use exactly one client authentication method")
	case methods == 0 && cert.Present():
		return h.certificateClient(r, form, cert, now)
	case methods == 0:
		return nil, tokenErr(http.StatusUnauthorized, "invalid_client",
			"client authentication is required: client_secret, client_assertion, or client_id over a connection with a client certificate")
	case assertion != "":
		return h.assertionClient(r.Context(), form, now)
	}
	id, secret := postID, postSecret
	if basic {
		// RFC 6749 §2.3.1: both are form-encoded inside Basic.
		var err1, err2 error
		id, err1 = url.QueryUnescape(basicID)
		secret, err2 = url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, tokenErr(http.StatusBadRequest, "invalid_request", "the Basic credentials are not form-encoded")
		}
	}
	refuse := func(desc string) *tokenRequestError {
		e := tokenErr(http.StatusUnauthorized, "invalid_client", desc)
		e.basic = basic
		return e
	}
	k, err := keys.Parse(secret)
	if err != nil || k.ID() != id {
		return nil, refuse("client_id must be the key ID and client_secret the API key")
	}
	req := Request{Credential: secret, Env: h.environment(r), Peer: peerAddr(r), ClientCertificate: cert, tokenRequest: true}
	start := time.Now()
	d := h.v.authenticate(r.Context(), req, now)
	// A client secret is the key itself: its use, or a guess at it.
	h.v.countActivity(d, req.Env, now, time.Since(start))
	if d.Result != Permit {
		// A failed client authentication is a denial like any other in
		// the audit trail (which never sees the credential).
		h.v.audit.denied(now, req, d)
	}
	switch {
	case d.Result == Indeterminate:
		return nil, &tokenRequestError{status: http.StatusServiceUnavailable, retryAfter: time.Second,
			oauthError: oauthError{Error: "temporarily_unavailable", Description: d.Message}}
	case d.Result != Permit:
		terr := refuse("the client could not be authenticated: " + string(d.Reason))
		if d.RetryAfter != nil {
			terr.retryAfter = d.RetryAfter.Sub(now)
		}
		return nil, terr
	case !d.entry.Record.Allows(record.AuthClientCredentials):
		return nil, tokenErr(http.StatusBadRequest, "unauthorized_client", "the key's auth methods do not include ClientCredentials")
	}
	return d.entry, nil
}

// assertionClient authenticates with a JWT signed by an enrolled client
// key (private_key_jwt).
func (h *handler) assertionClient(ctx context.Context, form url.Values, now time.Time) (*Entry, *tokenRequestError) {
	if form.Get("client_assertion_type") != jwtBearerAssertion {
		return nil, tokenErr(http.StatusBadRequest, "invalid_request", "client_assertion_type must be "+jwtBearerAssertion)
	}
	raw := form.Get("client_assertion")
	t := h.v.tokens
	rec, pub, ok := t.keys.clientKey(headerKID(raw))
	if !ok {
		return nil, tokenErr(http.StatusUnauthorized, "invalid_client", "the assertion's kid is not an enrolled client key")
	}
	claims, d := t.assertion(ctx, raw, rec, pub, now, tokenEndpointAssertion)
	if d.Result == Indeterminate {
		return nil, &tokenRequestError{status: http.StatusServiceUnavailable, retryAfter: time.Second,
			oauthError: oauthError{Error: "temporarily_unavailable", Description: d.Message}}
	}
	if d.Result != "" {
		return nil, tokenErr(http.StatusUnauthorized, "invalid_client", "the assertion is refused: "+string(d.Reason))
	}
	if id := form.Get("client_id"); id != "" && id != claims.Subject {
		return nil, tokenErr(http.StatusUnauthorized, "invalid_client", "client_id does not match the assertion")
	}
	e, d := h.v.enrolledEntry(rec, claims.Subject)
	if d.Result != "" {
		return nil, tokenErr(http.StatusUnauthorized, "invalid_client", "the client could not be authenticated: "+string(d.Reason))
	}
	if d, ok := stateDenial(e, now); !ok {
		return nil, tokenErr(http.StatusUnauthorized, "invalid_client", "the client could not be authenticated: "+string(d.Reason))
	}
	if !e.Record.Allows(record.AuthClientAssertion) {
		return nil, tokenErr(http.StatusBadRequest, "unauthorized_client", "the key's auth methods do not include ClientAssertion")
	}
	return e, nil
}

// grantedScopes applies RFC 6749 §3.3: without a scope parameter the token
// gets the key's scopes; with one, every requested scope must be within
// the key's.
func grantedScopes(e *Entry, requested string) (string, *tokenRequestError) {
	fields := strings.Fields(requested)
	if len(fields) == 0 {
		return strings.Join(e.scopeStrings, " "), nil
	}
	for _, f := range fields {
		one, err := scope.ParseSet([]string{f})
		if err != nil {
			return "", tokenErr(http.StatusBadRequest, "invalid_scope", "scope "+quotable(f)+" is not a valid scope")
		}
		if !e.scopes.Covers(one) {
			return "", tokenErr(http.StatusBadRequest, "invalid_scope", "scope "+quotable(f)+" is beyond the key's scopes")
		}
	}
	set, _ := scope.ParseSet(fields)
	return strings.Join(set.Strings(), " "), nil
}
