package token

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// MaxTokenSize bounds what is parsed at all, so an oversized header cannot
// make the verifier decode and allocate on an attacker's behalf.
const MaxTokenSize = 8 << 10

// Reason says why a token was refused; it is safe to log and to return in an
// error_description because it never carries token content.
type Reason string

const (
	ReasonMalformed     Reason = "malformed"
	ReasonAlgNotAllowed Reason = "alg_not_allowed"
	ReasonUnknownKID    Reason = "unknown_kid"
	ReasonBadSignature  Reason = "bad_signature"
	ReasonBadIssuer     Reason = "bad_issuer"
	ReasonBadAudience   Reason = "bad_audience"
	ReasonExpired       Reason = "expired"
	ReasonNotYetValid   Reason = "not_yet_valid"
)

// ValidationError is the only error Validate returns for a bad token. Its
// message is built from fixed text so that no part of the token leaks into
// logs or responses.
type ValidationError struct {
	Reason Reason
	detail string
}

func (e *ValidationError) Error() string {
	if e.detail == "" {
		return "token refused: " + string(e.Reason)
	}
	return "token refused: " + string(e.Reason) + ": " + e.detail
}

func refuse(r Reason, detail string) *ValidationError {
	return &ValidationError{Reason: r, detail: detail}
}

// ResolvedKey is what a kid stands for. Published is false for a key that
// exists but must not verify anything (not yet published, or withdrawn).
type ResolvedKey struct {
	Key       crypto.PublicKey
	Algorithm string
	Published bool
}

// KeyResolver looks a kid up; it must be safe for concurrent use.
type KeyResolver interface {
	ResolveKey(kid string) (ResolvedKey, bool)
}

// KeyResolverFunc adapts a function to KeyResolver.
type KeyResolverFunc func(kid string) (ResolvedKey, bool)

func (f KeyResolverFunc) ResolveKey(kid string) (ResolvedKey, bool) { return f(kid) }

// Validator checks tokens for one issuer and one audience. Every field is
// required; a validator missing any of them refuses to run rather than skip
// a check.
type Validator struct {
	Keys     KeyResolver
	Issuer   string
	Audience string
	// Leeway absorbs clock differences on exp, nbf and iat.
	Leeway time.Duration
	// Algorithms is the allow-list; only RS256 and ES256 may appear in it.
	Algorithms []string
}

// ErrMisconfigured is returned, instead of a verdict, by a Validator whose
// fields are incomplete.
var ErrMisconfigured = errors.New("token validator is misconfigured")

func (v *Validator) allowed() ([]jose.SignatureAlgorithm, error) {
	if v.Keys == nil || v.Issuer == "" || v.Audience == "" || v.Leeway < 0 || len(v.Algorithms) == 0 {
		return nil, fmt.Errorf("%w: Keys, Issuer, Audience and Algorithms are required, Leeway must not be negative", ErrMisconfigured)
	}
	algs := make([]jose.SignatureAlgorithm, 0, len(v.Algorithms))
	for _, a := range v.Algorithms {
		if a != RS256 && a != ES256 {
			return nil, fmt.Errorf("%w: algorithm %q is not supported", ErrMisconfigured, a)
		}
		algs = append(algs, jose.SignatureAlgorithm(a))
	}
	return algs, nil
}

// Validate returns the claims of a token that passes every check, or a
// *ValidationError. The signature is checked before any claim so that a
// forged token learns nothing about which claims would have passed.
func (v *Validator) Validate(raw string, now time.Time) (Claims, error) {
	algs, err := v.allowed()
	if err != nil {
		return Claims{}, err
	}
	if len(raw) > MaxTokenSize {
		return Claims{}, refuse(ReasonMalformed, "token too large")
	}
	if strings.Count(raw, ".") != 2 {
		return Claims{}, refuse(ReasonMalformed, "not a compact JWS")
	}
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil {
		if _, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return Claims{}, refuse(ReasonAlgNotAllowed, "")
		}
		return Claims{}, refuse(ReasonMalformed, "not a compact JWS")
	}
	if len(jws.Signatures) != 1 {
		return Claims{}, refuse(ReasonMalformed, "expected one signature")
	}
	header := jws.Signatures[0].Protected
	if header.KeyID == "" {
		return Claims{}, refuse(ReasonUnknownKID, "no kid")
	}
	key, ok := v.Keys.ResolveKey(header.KeyID)
	if !ok || !key.Published {
		return Claims{}, refuse(ReasonUnknownKID, "")
	}
	// The header's alg is only ever compared, never obeyed: the key's own
	// algorithm decides, and the key must actually be of that type.
	if header.Algorithm != key.Algorithm || !slices.Contains(v.Algorithms, key.Algorithm) {
		return Claims{}, refuse(ReasonAlgNotAllowed, "alg does not match the key")
	}
	if err := checkKeyAlgorithm(key.Algorithm, key.Key); err != nil {
		return Claims{}, refuse(ReasonAlgNotAllowed, "alg does not match the key")
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return Claims{}, refuse(ReasonBadSignature, "")
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		if errors.Is(err, ErrUnsupportedConfirmation) {
			return Claims{}, refuse(ReasonMalformed, ErrUnsupportedConfirmation.Error())
		}
		return Claims{}, refuse(ReasonMalformed, "claims are not valid JSON")
	}
	if err := v.checkClaims(c, now); err != nil {
		return Claims{}, err
	}
	return c, nil
}

func (v *Validator) checkClaims(c Claims, now time.Time) error {
	if c.Issuer != v.Issuer {
		return refuse(ReasonBadIssuer, "")
	}
	if !slices.Contains(c.Audience, v.Audience) {
		return refuse(ReasonBadAudience, "")
	}
	// A token without exp would be valid forever; refusing it keeps every
	// cache entry and replay record bounded in time.
	if c.Expiry.IsZero() {
		return refuse(ReasonMalformed, "exp is required")
	}
	if !now.Before(c.Expiry.Add(v.Leeway)) {
		return refuse(ReasonExpired, "")
	}
	if !c.NotBefore.IsZero() && now.Add(v.Leeway).Before(c.NotBefore) {
		return refuse(ReasonNotYetValid, "nbf is in the future")
	}
	if !c.IssuedAt.IsZero() && now.Add(v.Leeway).Before(c.IssuedAt) {
		return refuse(ReasonNotYetValid, "iat is in the future")
	}
	return nil
}
