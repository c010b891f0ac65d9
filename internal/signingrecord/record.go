// Package signingrecord is the contract between the manager and the verifier
// for SigningKeys, beside package record for APIKeys. The manager writes one
// Secret per kid into the verifier's namespace; the verifier reads only
// Secrets that carry Label.
//
// Times rather than states travel in a record: the verifier decides with its
// own clock when a key is published, when it signs and when it leaves the
// JWKS, so a rotation's overlap holds to the second even when the manager's
// next write is late.
package signingrecord

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyward-dev/keyward/internal/token"
)

// Schema names this version of the format; unknown schemas are refused.
const Schema = "keyward.dev/signing-key/v1"

// Labels and data keys of a signing-key Secret.
const (
	Label = "keyward.dev/signing-key"
	// SigningKeyUIDLabel ties every Secret to the SigningKey it belongs to.
	SigningKeyUIDLabel = "keyward.dev/signingkey-uid"
	KIDLabel           = "keyward.dev/kid"
	// SigningKeyAnnotation holds "<namespace>/<name>" of the SigningKey.
	SigningKeyAnnotation = "keyward.dev/signingkey"
	DataKey              = "signing-key.json"
	// PrivateKeyDataKey holds the PKCS #8 PEM private key of an issuer key.
	// It is a separate data key so that the record itself can be logged
	// and compared without ever touching private material.
	PrivateKeyDataKey = "private.pem"
)

// SecretName is the name of the Secret carrying a kid.
func SecretName(kid string) string { return "keyward-signing-" + kid }

// Mode says what a signing key is for.
type Mode string

const (
	// Issuer keys sign the access tokens the verifier issues.
	Issuer Mode = "issuer"
	// Client keys verify assertions a client signed with its own private
	// key, which keyward never sees.
	Client Mode = "client"
)

// Record is everything the verifier knows about one signing key.
type Record struct {
	Schema    string          `json:"schema"`
	KID       string          `json:"kid"`
	Mode      Mode            `json:"mode"`
	Algorithm string          `json:"alg"`
	PublicJWK json.RawMessage `json:"publicJWK"`

	// PublishAt is when an issuer key enters the JWKS, SignFrom when it
	// starts signing, SignUntil when a newer key takes over, WithdrawAt
	// when it leaves the JWKS (after the last token it signed expired).
	PublishAt  time.Time  `json:"publishAt,omitzero"`
	SignFrom   time.Time  `json:"signFrom,omitzero"`
	SignUntil  *time.Time `json:"signUntil,omitempty"`
	WithdrawAt *time.Time `json:"withdrawAt,omitempty"`
	// TokenLifetime bounds the tokens an issuer key signs, so WithdrawAt
	// can be computed from SignUntil.
	TokenLifetime time.Duration `json:"tokenLifetime,omitempty"`
	// PublishAhead is how long before it signs the next key of the same
	// issuer will be published: no client may cache the JWKS for longer,
	// or it would meet a token whose key it has not fetched.
	PublishAhead time.Duration `json:"publishAhead,omitempty"`

	// KeyID is the APIKey a client key authenticates as (its client_id),
	// and Owner that key's owner.
	KeyID string `json:"keyID,omitempty"`
	Owner string `json:"owner,omitempty"`
	// APIKeyUID is the UID of the APIKey a client key was enrolled for.
	// The verifier accepts the key's assertions only while the key
	// record of KeyID names the same UID: a key ID never moves to
	// another APIKey, and this makes sure a signing key cannot either.
	APIKeyUID string `json:"apiKeyUID,omitempty"`
	// Eviction changes when an admin evicts the client key's replay and
	// clock-skew state; the verifier evicts on every change.
	Eviction string `json:"eviction,omitempty"`

	// Version increases with every change of content.
	Version int64 `json:"version"`
}

// Validate checks a record completely.
func (r *Record) Validate() error {
	var errs []error
	if r.Schema != Schema {
		errs = append(errs, fmt.Errorf("schema %q is not %q", r.Schema, Schema))
	}
	if r.KID == "" {
		errs = append(errs, errors.New("kid is empty"))
	}
	if _, err := r.PublicKey(); err != nil {
		errs = append(errs, err)
	}
	switch r.Mode {
	case Issuer:
		if r.PublishAt.IsZero() || r.SignFrom.Before(r.PublishAt) {
			errs = append(errs, errors.New("an issuer key needs publishAt, and signFrom not before it"))
		}
		if r.PublishAhead <= 0 {
			errs = append(errs, errors.New("an issuer key needs a positive publishAhead"))
		}
		if r.TokenLifetime <= 0 {
			errs = append(errs, errors.New("an issuer key needs a positive tokenLifetime"))
		}
		if r.SignUntil != nil && (r.WithdrawAt == nil || r.WithdrawAt.Before(r.SignUntil.Add(r.TokenLifetime))) {
			errs = append(errs, errors.New("withdrawAt must not come before signUntil plus tokenLifetime"))
		}
	case Client:
		if r.KeyID == "" || r.Owner == "" || r.APIKeyUID == "" {
			errs = append(errs, errors.New("a client key needs keyID, owner and apiKeyUID"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown mode %q", r.Mode))
	}
	return errors.Join(errs...)
}

// PublicKey decodes the public JWK and checks that it fits the algorithm.
func (r *Record) PublicKey() (token.ResolvedKey, error) {
	var set token.KeySet
	wrapped := append(append([]byte(`{"keys":[`), r.PublicJWK...), ']', '}')
	if err := json.Unmarshal(wrapped, &set); err != nil {
		return token.ResolvedKey{}, fmt.Errorf("publicJWK: %w", err)
	}
	k, ok := set.ResolveKey(r.KID)
	if !ok || set.Len() != 1 {
		return token.ResolvedKey{}, fmt.Errorf("publicJWK does not describe kid %q", r.KID)
	}
	if k.Algorithm != r.Algorithm {
		return token.ResolvedKey{}, fmt.Errorf("publicJWK is for %s, the record says %s", k.Algorithm, r.Algorithm)
	}
	return k, nil
}

// Published reports whether an issuer key belongs in the JWKS at now.
func (r *Record) Published(now time.Time) bool {
	if r.Mode != Issuer || now.Before(r.PublishAt) {
		return false
	}
	return r.WithdrawAt == nil || now.Before(*r.WithdrawAt)
}

// Signs reports whether an issuer key may sign at now.
func (r *Record) Signs(now time.Time) bool {
	if r.Mode != Issuer || now.Before(r.SignFrom) {
		return false
	}
	return r.SignUntil == nil || now.Before(*r.SignUntil)
}

// Encode returns the canonical JSON of a valid record.
func Encode(r Record) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

// Decode parses and validates a record.
func Decode(b []byte) (Record, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("signing-key record: %w", err)
	}
	if err := r.Validate(); err != nil {
		return Record{}, fmt.Errorf("signing-key record %q: %w", r.KID, err)
	}
	return r, nil
}

// SameContent compares two records ignoring Version.
func SameContent(a, b Record) bool {
	a.Version, b.Version = 0, 0
	ea, err1 := json.Marshal(a)
	eb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}
