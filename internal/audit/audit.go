// Package audit writes keyward's audit trail: one JSON line per lifecycle
// event of a key. Lines carry identifiers, never secret material.
package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Actions recorded in the trail.
const (
	Created    = "created"
	Reissued   = "reissued"
	Rotated    = "rotated"
	GraceEnded = "grace_ended"
	Expired    = "expired"
	Suspended  = "suspended"
	Resumed    = "resumed"
	Revoked    = "revoked"
	Deleted    = "deleted"
	// Leaked: a verified leak report named the key.
	Leaked = "leaked"
	// Anomalous: a detector of the usage analytics flagged the key; the
	// line's reason says what was seen and what keyward did.
	Anomalous = "anomalous"
	// AnomalyAcknowledged: a person acknowledged the key's finding
	// (annotation keyward.dev/acknowledge-anomaly), lifting a suspension
	// it caused.
	AnomalyAcknowledged = "anomaly_acknowledged"
	// Revealed: a key under one-time delivery was read, or its reveal
	// deadline passed, and its plaintext left the delivery Secret.
	Revealed = "revealed"
)

// RotationRequested is the change of an admitted request that asks for an
// on-demand rotation (spec.rotation.trigger or the keyward.dev/rotate
// annotation changed); Created, Revoked, Suspended, Resumed and Deleted
// name the other lifecycle changes a request can make.
const RotationRequested = "rotation_requested"

// Event is one line of the trail.
type Event struct {
	Time      time.Time `json:"time"`
	Action    string    `json:"action"`
	KeyID     string    `json:"keyID,omitempty"`
	Owner     string    `json:"owner"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Reason    string    `json:"reason"`
	// Actor is the user who made the change, as the API server
	// authenticated them for the admission webhook; never a name the
	// client chose (such as a field manager). On the manager's lifecycle
	// lines it is set only when this process admitted the change itself;
	// otherwise (another replica admitted it, the webhook was down, or
	// nobody made it: the schedule, a parent, a policy) it is empty and
	// UID and Generation join the line to the admission line of whichever
	// replica admitted the change.
	Actor string `json:"actor,omitempty"`
	// UID and Generation are the APIKey's: the object and the version of
	// its spec the line is about (for a deletion, the last one).
	UID        string `json:"uid,omitempty"`
	Generation int64  `json:"generation,omitempty"`
	// Admission is the UID of the admission request that made the change:
	// on an admission line, its own; on a lifecycle line, the admission
	// whose Actor it names.
	Admission string `json:"admission,omitempty"`
	// Changes are the lifecycle changes an admitted request makes
	// (Created, Revoked, Suspended, Resumed, Deleted,
	// RotationRequested, AnomalyAcknowledged), on admission lines only.
	Changes []string `json:"changes,omitempty"`
}

// Recall is a trail that remembers the changes its own process admitted,
// so that a lifecycle line can name the user directly.
type Recall interface {
	// Admitted returns the admission line that made change to the object
	// uid at generation; for Deleted, at any generation, since an object
	// is deleted once.
	Admitted(uid string, generation int64, change string) (Event, bool)
}

// Sink receives audit events.
type Sink interface {
	Record(Event)
}

// Writer writes events as JSON lines, and remembers the latest admission
// lines (Recall); safe for concurrent use.
type Writer struct {
	mu       sync.Mutex
	w        io.Writer
	admitted admissions
}

// NewWriter writes the trail to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Record writes one line. A failing sink is reported on stderr rather than
// failing a reconcile: the Kubernetes Events carry the same story.
func (w *Writer) Record(e Event) {
	w.admitted.remember(e)
	w.writeLine(e)
}

// Admitted implements Recall.
func (w *Writer) Admitted(uid string, generation int64, change string) (Event, bool) {
	return w.admitted.find(uid, generation, change)
}

func (w *Writer) writeLine(v any) {
	line, err := json.Marshal(v)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(append(line, '\n')); err != nil {
		fmt.Fprintf(os.Stderr, "keyward: writing the audit trail: %v\n", err)
	}
}

// Open returns the sink named by target: "stdout" (or "" or "-") or the path
// of a file, appended to and created with mode 0600.
func Open(target string) (*Writer, io.Closer, error) {
	switch target {
	case "", "-", "stdout":
		return NewWriter(os.Stdout), io.NopCloser(nil), nil
	}
	f, err := os.OpenFile(target, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the audit log: %w", err)
	}
	return NewWriter(f), f, nil
}

// Discard drops every event.
type Discard struct{}

// Record drops the event.
func (Discard) Record(Event) {}

// Access actions of the verifier's trail.
const (
	Denied   = "denied"
	FirstUse = "first_use"
)

// Access is one line of the verifier's trail: a denial, or the first time a
// secret verified in a verifier process. It names keys by ID only.
type Access struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	// Decision and Reason are the verifier's (Deny, Indeterminate, …).
	Decision string `json:"decision,omitempty"`
	Reason   string `json:"reason,omitempty"`
	KeyID    string `json:"keyID,omitempty"`
	Owner    string `json:"owner,omitempty"`
	// Secret is "current" or "previous" (a rotated secret in its grace
	// period), on first use.
	Secret string `json:"secret,omitempty"`
	// Resource and RequestAction are what the request asked for.
	Resource      string `json:"resource,omitempty"`
	RequestAction string `json:"requestAction,omitempty"`
	// Source is the client address as the verifier determined it.
	Source string `json:"source,omitempty"`
	// Certificate is the x5t#S256 thumbprint of the client certificate
	// the request presented, if any: public, and what a binding names.
	Certificate string `json:"certificate,omitempty"`
}

// RecordAccess writes one line of the verifier's trail.
func (w *Writer) RecordAccess(a Access) { w.writeLine(a) }
