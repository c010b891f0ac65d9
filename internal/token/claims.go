package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"time"
)

// Claims are the registered claims keyward issues and checks. A zero time
// means the claim is absent. Times are whole seconds on the wire.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	Expiry    time.Time
	NotBefore time.Time
	IssuedAt  time.Time
	ID        string
	// Scope is the space-separated list of RFC 6749 §3.3.
	Scope string
	// CertThumbprint, when set, binds the token to a client certificate
	// (RFC 8705 §3.1): cnf.x5t#S256, the certificate's SHA-256 thumbprint.
	CertThumbprint string
}

// confirmation is the cnf claim (RFC 7800). Only x5t#S256 is understood;
// a token confirmed by anything else is refused on parsing, because
// accepting it as a plain bearer token would drop the proof of possession
// its issuer asked for.
type confirmation struct {
	X5TS256 string `json:"x5t#S256"`
}

// ErrUnsupportedConfirmation: the cnf claim holds a member other than
// x5t#S256, or x5t#S256 is not a string.
var ErrUnsupportedConfirmation = errors.New("cnf: only a string x5t#S256 is supported")

func (c *confirmation) UnmarshalJSON(b []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return ErrUnsupportedConfirmation
	}
	raw, ok := members["x5t#S256"]
	if len(members) != 1 || !ok || json.Unmarshal(raw, &c.X5TS256) != nil || c.X5TS256 == "" {
		return ErrUnsupportedConfirmation
	}
	return nil
}

type wireClaims struct {
	Issuer    string        `json:"iss,omitempty"`
	Subject   string        `json:"sub,omitempty"`
	Audience  audience      `json:"aud,omitempty"`
	Expiry    *numericDate  `json:"exp,omitempty"`
	NotBefore *numericDate  `json:"nbf,omitempty"`
	IssuedAt  *numericDate  `json:"iat,omitempty"`
	ID        string        `json:"jti,omitempty"`
	Scope     string        `json:"scope,omitempty"`
	Cnf       *confirmation `json:"cnf,omitempty"`
}

func (c Claims) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireClaims{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		Audience:  audience(c.Audience),
		Expiry:    toNumericDate(c.Expiry),
		NotBefore: toNumericDate(c.NotBefore),
		IssuedAt:  toNumericDate(c.IssuedAt),
		ID:        c.ID,
		Scope:     c.Scope,
		Cnf:       toConfirmation(c.CertThumbprint),
	})
}

func toConfirmation(thumbprint string) *confirmation {
	if thumbprint == "" {
		return nil
	}
	return &confirmation{X5TS256: thumbprint}
}

func (c *Claims) UnmarshalJSON(b []byte) error {
	var w wireClaims
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Claims{
		Issuer:    w.Issuer,
		Subject:   w.Subject,
		Audience:  []string(w.Audience),
		Expiry:    w.Expiry.time(),
		NotBefore: w.NotBefore.time(),
		IssuedAt:  w.IssuedAt.time(),
		ID:        w.ID,
		Scope:     w.Scope,
	}
	if w.Cnf != nil {
		c.CertThumbprint = w.Cnf.X5TS256
	}
	return nil
}

// audience is a single string or an array of strings on the wire (RFC 7519
// §4.1.3); one audience is written as a plain string because that is what
// most relying parties expect.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*a = audience(list)
	return nil
}

// numericDate accepts fractional seconds because RFC 7519 allows them, but
// refuses values no clock will reach so that time arithmetic cannot overflow.
type numericDate int64

// maxNumericDate is the year 9999; anything later is a forged or broken token.
const maxNumericDate = 253402300799

var errNumericDate = errors.New("date claims must be seconds between 0 and the year 9999")

func toNumericDate(t time.Time) *numericDate {
	if t.IsZero() {
		return nil
	}
	n := numericDate(t.Unix())
	return &n
}

func (n numericDate) MarshalJSON() ([]byte, error) {
	return json.Marshal(int64(n))
}

func (n *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	if math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return errNumericDate
	}
	*n = numericDate(math.Floor(f))
	return nil
}

func (n *numericDate) time() time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(int64(*n), 0).UTC()
}
