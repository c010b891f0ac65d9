package verifier

import (
	"net/netip"
	"time"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/scope"
)

// Result is the outcome of a decision, as in XACML 3.0.
type Result string

const (
	// Permit: the credential may do the action on the resource.
	Permit Result = "Permit"
	// Deny: it may not; Reason says why.
	Deny Result = "Deny"
	// NotApplicable: the request names nothing the verifier protects (no
	// route maps it to a resource).
	NotApplicable Result = "NotApplicable"
	// Indeterminate: the verifier cannot decide now (not yet synced, out of
	// touch with the API server, hashing overloaded). Callers must treat it
	// as a denial; the verifier never permits what it cannot decide.
	Indeterminate Result = "Indeterminate"
)

// Reason is the machine-readable cause of a decision. The values are part of
// the API: proxies, dashboards and audit consumers match on them.
type Reason string

const (
	ReasonAllowed Reason = "allowed"

	// Credential problems: RFC 6750 invalid_request or invalid_token.
	ReasonMissingCredential   Reason = "missing_credential"
	ReasonMalformedRequest    Reason = "malformed_request"
	ReasonCredentialInQuery   Reason = "credential_in_query"
	ReasonMalformedCredential Reason = "malformed_credential"
	ReasonUnknownKey          Reason = "unknown_key"
	ReasonInvalidSecret       Reason = "invalid_secret"
	ReasonRevoked             Reason = "revoked"
	ReasonSuspended           Reason = "suspended"
	ReasonExpired             Reason = "expired"
	ReasonNotYetValid         Reason = "not_yet_valid"
	ReasonSecretExpired       Reason = "secret_expired"
	ReasonTooManyFailures     Reason = "too_many_failures"
	// ReasonAuthMethodNotAllowed: the key may not authenticate this way
	// (spec.authMethods), e.g. a key for the token endpoint sent as is.
	ReasonAuthMethodNotAllowed Reason = "auth_method_not_allowed"

	// Authorisation problems: RFC 6750 insufficient_scope.
	ReasonInsufficientScope  Reason = "insufficient_scope"
	ReasonSourceNotAllowed   Reason = Reason(access.SourceNotAllowed)
	ReasonOutsideTimeWindow  Reason = Reason(access.OutsideTimeWindow)
	ReasonCountryNotAllowed  Reason = Reason(access.CountryNotAllowed)
	ReasonNetworkNotAllowed  Reason = Reason(access.NetworkNotAllowed)
	ReasonDeviceNotCompliant Reason = Reason(access.DeviceNotCompliant)

	// Limits: 429 with Retry-After.
	ReasonRateLimited    Reason = "rate_limited"
	ReasonQuotaExhausted Reason = "quota_exhausted"

	// NotApplicable.
	ReasonNoRoute Reason = "no_route"

	// Indeterminate.
	ReasonNotReady    Reason = "not_ready"
	ReasonStale       Reason = "verifier_stale"
	ReasonHashingBusy Reason = "hashing_busy"
	// ReasonHashNotAllowed: in FIPS mode, the key's stored hash has
	// parameters the mode does not allow (fewer PBKDF2 iterations than
	// NIST SP 800-132's minimum, written by a manager outside FIPS mode
	// with its insecure switch); rotating the key replaces it.
	ReasonHashNotAllowed Reason = "hash_not_allowed"
	// ReasonRateLimitUnavailable: the shared rate-limit store failed and
	// the configured fallback is to deny (for quotas, the default).
	ReasonRateLimitUnavailable Reason = "rate_limit_unavailable"
)

// credentialReason reports whether a reason is about the credential itself
// (401) rather than about what the credential may do (403).
func credentialReason(r Reason) bool {
	switch r {
	case ReasonMissingCredential, ReasonMalformedRequest, ReasonCredentialInQuery,
		ReasonMalformedCredential, ReasonUnknownKey, ReasonInvalidSecret, ReasonRevoked,
		ReasonSuspended, ReasonExpired, ReasonNotYetValid, ReasonSecretExpired, ReasonTooManyFailures,
		ReasonAuthMethodNotAllowed:
		return true
	}
	return tokenReason(r) || certificateReason(r)
}

// Secret says which of a key's secrets a credential matched.
type Secret string

const (
	SecretCurrent Secret = "current"
	// SecretPrevious: the secret a rotation replaced, still inside its
	// grace period. Clients using it should pick up the new key.
	SecretPrevious Secret = "previous"
)

// Request is one question to the verifier, in XACML's four categories.
type Request struct {
	// Subject: the credential as presented, or why there is none.
	Credential        string
	CredentialProblem CredentialProblem
	// Resource and Action.
	Resource scope.Resource
	Action   scope.Action
	// Environment: where and when.
	Env access.Environment
	// Peer is the address of the connection the request came on: the
	// proxy's, or the client's own. Backoff counts failures by it when
	// Env.Address is unknown, so that clients without a known address do
	// not all share one count.
	Peer netip.Addr
	// Cost, when set (by a route), is what the request spends from the
	// key's limits instead of its action's cost.
	Cost *int64
	// ClientCertificate is the client's TLS certificate, if it presented
	// one (handler.clientCertificate); alone, it is the credential of a
	// key whose binding allows that. ClientCertificateErr says why a
	// presented certificate could not be read; the request is then denied.
	ClientCertificate    ClientCertificate
	ClientCertificateErr error

	// tokenRequest: the key authenticates a token request, whose auth
	// method the token endpoint checks once the secret is verified.
	tokenRequest bool
}

// Decision is the verifier's answer.
type Decision struct {
	Result  Result `json:"decision"`
	Reason  Reason `json:"reason"`
	Message string `json:"message,omitempty"`
	// KeyID and Owner identify the key once its secret (or a token's
	// signature) was verified; never on a denial decided before that
	// (unknown, revoked, suspended, expired, backoff…), which anyone who
	// read a key ID somewhere could provoke.
	KeyID string `json:"keyID,omitempty"`
	Owner string `json:"owner,omitempty"`
	// MatchedScope is the key's scope that allowed the request (Permit, or
	// a denial by conditions).
	MatchedScope string `json:"matchedScope,omitempty"`
	// RequiredScope is the narrowest scope that would allow the request;
	// set on insufficient_scope.
	RequiredScope string `json:"requiredScope,omitempty"`
	Secret        Secret `json:"secret,omitempty"`
	// RetryAfter, when set, is when trying again may succeed.
	RetryAfter *time.Time `json:"retryAfter,omitempty"`
	// RateLimit is the key's limit closest to refusing, when it has
	// limits: what remains on a Permit, what refused on rate_limited.
	RateLimit RateLimitStatus `json:"rateLimit,omitzero"`

	entry *Entry
	// tokenScopes is the X-Keyward-Scopes value of a request made with
	// an access token: the token's scopes, which may be fewer than the
	// key's, so an upstream never sees more than the token grants.
	tokenScopes []string
	matched     int // index of MatchedScope in entry's scopes
	limit       int // index of RateLimit's limit in entry's plan
}

func deny(r Reason, msg string) Decision { return Decision{Result: Deny, Reason: r, Message: msg} }

func indeterminate(r Reason, msg string) Decision {
	return Decision{Result: Indeterminate, Reason: r, Message: msg}
}

// requiredScope is the narrowest scope that allows exactly the request.
func requiredScope(res scope.Resource, a scope.Action) string {
	return res.String() + ":" + a.String()
}
