package verifier

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/scope"
	"github.com/keyward-dev/keyward/internal/signingrecord"
	"github.com/keyward-dev/keyward/internal/token"
)

// Reasons of JWT denials. All are credential problems: 401 invalid_token.
const (
	ReasonTokenMalformed    Reason = "malformed_token"
	ReasonTokenAlgorithm    Reason = "token_algorithm_not_allowed"
	ReasonTokenUnknownKID   Reason = "unknown_signing_key"
	ReasonTokenSignature    Reason = "invalid_signature"
	ReasonTokenIssuer       Reason = "wrong_issuer"
	ReasonTokenAudience     Reason = "wrong_audience"
	ReasonTokenExpired      Reason = "token_expired"
	ReasonTokenNotYetValid  Reason = "token_not_yet_valid"
	ReasonTokensDisabled    Reason = "tokens_disabled"
	ReasonAssertionReplayed Reason = "assertion_replayed"
	ReasonAssertionInvalid  Reason = "invalid_assertion"
	ReasonClientClockSkew   Reason = "client_clock_skew"
	// ReasonAssertionNotEnrolled: the signing key was enrolled for
	// another APIKey than the one that holds the key ID now.
	ReasonAssertionNotEnrolled Reason = "signing_key_not_enrolled_for_key"
)

// ReasonReplayUnavailable: the shared replay cache cannot be reached, so
// no assertion can be known to be new. Indeterminate, not a credential
// problem.
const ReasonReplayUnavailable Reason = "replay_cache_unavailable"

// tokenReason reports the JWT reasons, all about the credential itself.
func tokenReason(r Reason) bool {
	switch r {
	case ReasonTokenMalformed, ReasonTokenAlgorithm, ReasonTokenUnknownKID, ReasonTokenSignature,
		ReasonTokenIssuer, ReasonTokenAudience, ReasonTokenExpired, ReasonTokenNotYetValid,
		ReasonTokensDisabled, ReasonAssertionReplayed, ReasonAssertionInvalid, ReasonClientClockSkew,
		ReasonAssertionNotEnrolled, ReasonTokenCertificateMissing, ReasonTokenCertificateMismatch:
		return true
	}
	return false
}

var tokenReasons = map[token.Reason]struct {
	reason Reason
	msg    string
}{
	token.ReasonMalformed:     {ReasonTokenMalformed, "the token is not a well-formed signed JWT"},
	token.ReasonAlgNotAllowed: {ReasonTokenAlgorithm, "the token's algorithm is not accepted for its key"},
	token.ReasonUnknownKID:    {ReasonTokenUnknownKID, "the token's signing key is not published"},
	token.ReasonBadSignature:  {ReasonTokenSignature, "the token's signature does not verify"},
	token.ReasonBadIssuer:     {ReasonTokenIssuer, "the token was not issued by this issuer"},
	token.ReasonBadAudience:   {ReasonTokenAudience, "the token is not meant for this audience"},
	token.ReasonExpired:       {ReasonTokenExpired, "the token has expired"},
	token.ReasonNotYetValid:   {ReasonTokenNotYetValid, "the token is not valid yet"},
}

// tokenDenial turns a validation error into a decision; its message is
// fixed text, never token content.
func tokenDenial(err error) Decision {
	var ve *token.ValidationError
	if errors.As(err, &ve) {
		if r, ok := tokenReasons[ve.Reason]; ok {
			return deny(r.reason, r.msg)
		}
	}
	return deny(ReasonTokenMalformed, "the token could not be validated")
}

// headerKID reads the kid of a compact JWS without verifying anything, only
// to choose between the issuer's keys and an enrolled client key; the
// chosen validator then checks everything.
func headerKID(raw string) string {
	h, _, ok := strings.Cut(raw, ".")
	if !ok || len(h) > 1024 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var hdr struct {
		KID string `json:"kid"`
	}
	if json.Unmarshal(b, &hdr) != nil {
		return ""
	}
	return hdr.KID
}

// authenticateJWT accepts an access token this verifier issued or a client
// assertion signed by an enrolled client key, then applies the record of
// the key it names exactly as for the key itself: a token of a key revoked,
// suspended or expired since it was issued is denied at once.
func (v *Verifier) authenticateJWT(ctx context.Context, req Request, now time.Time) Decision {
	t := v.tokens
	if t == nil {
		return deny(ReasonTokensDisabled, "this verifier does not accept tokens")
	}
	// Before the cache: a token cached under a key withdrawn since must
	// not outlive what the verifier can know of its keys.
	if v.signingStale(now) {
		return indeterminate(ReasonStale, "the verifier has not known its signing keys current for too long to accept tokens")
	}
	var (
		claims token.Claims
		method string
		d      Decision
		e      *Entry
	)
	// Only access tokens are cached, so a hit needs no look at the header;
	// assertions are single-use and never cached.
	if c, ok := t.cache.Get(req.Credential, now); ok {
		claims, method = c, record.AuthClientCredentials
	} else if rec, pub, ok := t.keys.clientKey(headerKID(req.Credential)); ok {
		claims, d = t.assertion(ctx, req.Credential, rec, pub, now, bearerAssertion)
		method = record.AuthClientAssertion
		if d.Result == "" {
			e, d = v.enrolledEntry(rec, claims.Subject)
		}
	} else {
		claims, d = t.accessToken(req.Credential, now)
		method = record.AuthClientCredentials
	}
	if d.Result != "" {
		return d
	}
	// Before the key is looked at: a stolen bound token learns its thief
	// nothing about the key it was issued to.
	if d := certificateConfirmation(claims, req.ClientCertificate); d.Result != "" {
		return d
	}
	if e == nil {
		var ok bool
		if e, ok = v.index.Lookup(claims.Subject); !ok {
			return deny(ReasonUnknownKey, "the token's key is not valid")
		}
	}
	if d, ok := stateDenial(e, now); !ok {
		return d
	}
	if d, ok := tokenIssuedInTime(e, method, claims); !ok {
		return d
	}
	// A token comes from the token endpoint by a secret, an assertion or
	// a certificate, so a key that still allows any of them may use it;
	// one got by certificate is bound to it, so a key that allows only
	// MutualTLS may use bound tokens only (checked above to come with
	// their certificate).
	byOtherMethod := e.Record.Allows(method) ||
		(method == record.AuthClientCredentials && e.Record.Allows(record.AuthClientAssertion))
	byCertificate := !byOtherMethod &&
		method == record.AuthClientCredentials && claims.CertThumbprint != "" && e.Record.Allows(record.AuthMutualTLS)
	if !byOtherMethod && !byCertificate {
		return identified(deny(ReasonAuthMethodNotAllowed, "the key may not authenticate this way"), e)
	}
	// Such a token stands for the certificate it was got with, and only
	// while the key's binding still accepts that certificate: its owner
	// may have rebound the key away from a compromised certificate, or its
	// authority may be gone. (A key that must come with its certificate
	// is checked for it after this, in decide.)
	if byCertificate {
		if err := v.verifyClientCertificate(e, req.ClientCertificate, now); err != nil {
			return identified(err.decision(), e)
		}
	}
	if method == record.AuthClientCredentials {
		// The token's scope narrows the key's; the key's own scopes and
		// conditions are checked after this, as for the key itself.
		ts, err := t.scopeSet(claims.Scope)
		if err != nil || ts.set.Match(req.Resource, req.Action) < 0 {
			out := identified(deny(ReasonInsufficientScope, "the token's scope does not allow this action on this resource"), e)
			out.RequiredScope = requiredScope(req.Resource, req.Action)
			return out
		}
		d := identified(Decision{Result: Permit, Reason: ReasonAllowed}, e)
		d.tokenScopes = ts.header
		return d
	}
	return identified(Decision{Result: Permit, Reason: ReasonAllowed}, e)
}

// accessToken validates a token the verifier issued and caches it.
func (t *Tokens) accessToken(raw string, now time.Time) (token.Claims, Decision) {
	c, err := t.issued.Validate(raw, now)
	if err != nil {
		return token.Claims{}, tokenDenial(err)
	}
	t.cache.Put(raw, c, now)
	return c, Decision{}
}

// assertionUse says where an assertion was presented.
type assertionUse int

const (
	// bearerAssertion: as a credential on forward-auth or the decision
	// API, where only an assertion addressed to the issuer is accepted.
	bearerAssertion assertionUse = iota
	// tokenEndpointAssertion: as private_key_jwt at the token endpoint,
	// which also accepts its own URL as the audience (RFC 7523 §3).
	tokenEndpointAssertion
)

// enrolledEntry is the key an assertion authenticates as: the live record
// of the key ID it names, and only while that record belongs to the
// APIKey the signing key was enrolled for. A key ID never moves to
// another APIKey; this check makes sure an enrolled key cannot either.
func (v *Verifier) enrolledEntry(rec signingrecord.Record, keyID string) (*Entry, Decision) {
	e, ok := v.index.Lookup(keyID)
	if !ok {
		return nil, deny(ReasonUnknownKey, "the token's key is not valid")
	}
	if e.Record.APIKey.UID != rec.APIKeyUID {
		return nil, deny(ReasonAssertionNotEnrolled, "the assertion's signing key was not enrolled for this key")
	}
	return e, Decision{}
}

// assertion validates a client assertion (RFC 7523 §3): iss = sub = the
// key ID the client key is enrolled for, aud = the issuer (or, at the
// token endpoint only, the token endpoint), a short life, a jti never
// seen before, and a clock that did not jump.
func (t *Tokens) assertion(ctx context.Context, raw string, rec signingrecord.Record, pub token.ResolvedKey, now time.Time, use assertionUse) (token.Claims, Decision) {
	val := token.Validator{
		Keys: token.KeyResolverFunc(func(kid string) (token.ResolvedKey, bool) {
			pub.Published = kid == rec.KID
			return pub, pub.Published
		}),
		Issuer: rec.KeyID, Audience: t.set.issuer, Leeway: t.set.leeway,
		Algorithms: []string{token.RS256, token.ES256},
	}
	tokenEndpoint := t.set.issuer + TokenPath
	c, err := val.Validate(raw, now)
	var ve *token.ValidationError
	if errors.As(err, &ve) && ve.Reason == token.ReasonBadAudience {
		if use != tokenEndpointAssertion {
			return token.Claims{}, deny(ReasonTokenAudience, "the token is not meant for this audience; an assertion addressed to the token endpoint is accepted only there")
		}
		// RFC 7523 §3 names the token endpoint as the audience; clients
		// that follow it are as welcome as those naming the issuer.
		val.Audience = tokenEndpoint
		c, err = val.Validate(raw, now)
	}
	if err != nil {
		return token.Claims{}, tokenDenial(err)
	}
	switch {
	case use != tokenEndpointAssertion && slices.Contains(c.Audience, tokenEndpoint):
		// Addressed to the issuer and the token endpoint alike: whoever
		// sees it on its way to the token endpoint must not spend it here.
		return token.Claims{}, deny(ReasonTokenAudience, "an assertion addressed to the token endpoint is accepted only there")
	case c.Subject != rec.KeyID:
		return token.Claims{}, deny(ReasonAssertionInvalid, "an assertion's sub must equal its iss, the client's key ID")
	case c.IssuedAt.IsZero() || c.ID == "":
		return token.Claims{}, deny(ReasonAssertionInvalid, "an assertion needs iat and jti")
	case c.Expiry.Sub(c.IssuedAt) > t.set.maxAssertion:
		return token.Claims{}, deny(ReasonAssertionInvalid, "the assertion lives longer than the verifier allows")
	}
	if err := t.skew.Observe(rec.KID, c.IssuedAt, now); err != nil {
		return token.Claims{}, deny(ReasonClientClockSkew, "the client's clock moved; it is refused until the skew state times out or an admin evicts it")
	}
	seen, err := t.seenBefore(ctx, rec, c, now)
	switch {
	case seen:
		return token.Claims{}, deny(ReasonAssertionReplayed, "the assertion's jti was already used")
	case errors.Is(err, token.ErrReplayStoreUnavailable):
		return token.Claims{}, indeterminate(ReasonReplayUnavailable, "the replay cache cannot be reached, so no assertion can be accepted now; send a new one shortly")
	case err != nil:
		return token.Claims{}, deny(ReasonAssertionInvalid, "the assertion cannot be accepted now; "+err.Error())
	}
	return c, Decision{}
}

// maxScopeSets bounds the parsed scope strings kept; tokens carry few
// distinct ones (a key's scopes, or the subsets its clients ask for).
const maxScopeSets = 4096

// tokenScopes is a token's scope, parsed, and as an identity header value.
type tokenScopes struct {
	set    scope.Set
	header []string
}

// scopeSet parses a validated token's scope once. Only tokens whose
// signature verified get here, so only the issuer decides what is kept.
func (t *Tokens) scopeSet(s string) (tokenScopes, error) {
	if v, ok := t.scopeSets.Load(s); ok {
		return v.(tokenScopes), nil
	}
	set, err := scope.ParseSet(strings.Fields(s))
	if err != nil {
		return tokenScopes{}, err
	}
	ts := tokenScopes{set: set, header: []string{strings.Join(set.Strings(), " ")}}
	if t.nScopeSets.Add(1) <= maxScopeSets {
		t.scopeSets.Store(s, ts)
	}
	return ts, nil
}

// tokenIssuedInTime denies an access token issued before the record's
// TokensNotBefore: one minted with a secret reported leaked stays denied
// once a rotation has lifted the key's suspension.
func tokenIssuedInTime(e *Entry, method string, claims token.Claims) (Decision, bool) {
	nb := e.Record.TokensNotBefore
	if nb == nil || method != record.AuthClientCredentials || !claims.IssuedAt.Before(*nb) {
		return Decision{}, true
	}
	return withKey(deny(ReasonRevoked, "the token was issued before the key's secret was reported leaked"), e), false
}
