package audit

import "time"

// Denials is one line of the verifier's trail that counts the denials of
// one reason from one source network in one interval, so that a flood
// writes a line per interval rather than one per request. The first
// denial of the group in the interval has its own Denied line; Count
// includes it.
type Denials struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	// Decision and Reason are those of the group's first denial; Reason is
	// empty on the DenialsOther line, which folds the groups beyond the
	// interval's bound.
	Decision string `json:"decision,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Network is the client's /24 (IPv4) or /48 (IPv6), empty when the
	// verifier knew no client address.
	Network string `json:"network,omitempty"`
	Count   int64  `json:"count"`
	// First and Last are the times of the first and the last denial counted.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// KeyID is the first key ID one of the denials was about, if any: a
	// public identifier, never a secret.
	KeyID string `json:"keyID,omitempty"`
}

// Actions of the verifier's counted lines.
const (
	DenialsCounted = "denials"
	DenialsOther   = "denials_other"
)

// RecordDenials writes one counted line of the verifier's trail.
func (w *Writer) RecordDenials(d Denials) { w.writeLine(d) }
