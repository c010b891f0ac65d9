package leak

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/keyward-dev/keyward/internal/keys"
)

// The ConfigMap that carries a leak report: the manager's cache holds only
// ConfigMaps with Label set to "true".
const (
	Label   = "keyward.dev/leak"
	DataKey = "leak.json"
)

// Name is the ConfigMap name of the leak of one secret of a key: a
// replayed report, or the same secret reported again, is the same object,
// while a secret that leaks after a rotation is a report of its own.
func Name(keyID, serial string) string { return "keyward-leak-" + keyID + "-" + serial }

// Bounds of what a report may carry into a status.
const (
	MaxURLLength    = 2048
	MaxSourceLength = 64
	MaxTypeLength   = 64
)

// serialPattern is the record serials the manager draws, which also fit
// in a ConfigMap's name.
var serialPattern = regexp.MustCompile(`^[a-z0-9]{1,32}$`)

// Report is one verified leak of one key.
type Report struct {
	KeyID string `json:"keyID"`
	// Serial is the record serial of the secret that leaked, so that a
	// suspended key knows when a rotation has replaced it.
	Serial string `json:"serial"`
	// TokenSHA256 is the hex SHA-256 of the whole leaked key.
	TokenSHA256 string `json:"tokenSHA256"`
	// URL is where the reporter found the key; Source what kind of place
	// it was (e.g. "content", "commit"); Type the reporter's name for the
	// pattern.
	URL        string    `json:"url,omitempty"`
	Source     string    `json:"source,omitempty"`
	Type       string    `json:"type,omitempty"`
	ReportedAt time.Time `json:"reportedAt"`
}

// Validate refuses a report a correct verifier would not write: a report
// is input from another process, and a bad one must not reach any status.
func (r Report) Validate() error {
	if err := keys.ValidateID(r.KeyID); err != nil {
		return fmt.Errorf("keyID: %w", err)
	}
	if !serialPattern.MatchString(r.Serial) {
		return errors.New("serial is not 1 to 32 lower-case letters and digits")
	}
	if b, err := hex.DecodeString(r.TokenSHA256); err != nil || len(b) != 32 {
		return errors.New("tokenSHA256 is not a hex SHA-256")
	}
	if err := CheckURL(r.URL); err != nil {
		return err
	}
	if len(r.Source) > MaxSourceLength || len(r.Type) > MaxTypeLength {
		return fmt.Errorf("source or type is longer than %d characters", MaxTypeLength)
	}
	if r.ReportedAt.IsZero() {
		return errors.New("reportedAt is missing")
	}
	return nil
}

// CheckURL accepts an empty URL or an absolute http(s) URL of bounded
// length: it ends up in a status that people click.
func CheckURL(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxURLLength {
		return fmt.Errorf("url is longer than %d characters", MaxURLLength)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("url %q is not an absolute http(s) URL", s)
	}
	return nil
}

// Encode writes a report, refusing an invalid one; times are at second
// precision, as the status shows them.
func Encode(r Report) ([]byte, error) {
	r.ReportedAt = r.ReportedAt.UTC().Truncate(time.Second)
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

// Decode reads and validates a report.
func Decode(data []byte) (Report, error) {
	var r Report
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Report{}, err
	}
	if err := r.Validate(); err != nil {
		return Report{}, err
	}
	return r, nil
}
