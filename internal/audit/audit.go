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
)

// Event is one line of the trail.
type Event struct {
	Time      time.Time `json:"time"`
	Action    string    `json:"action"`
	KeyID     string    `json:"keyID,omitempty"`
	Owner     string    `json:"owner"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Reason    string    `json:"reason"`
	// Actor is who made the change that caused the event: the field
	// manager of the last change to the APIKey's spec or metadata (the
	// admission webhook will add the authenticated user). Empty for
	// events the schedule caused.
	Actor string `json:"actor,omitempty"`
}

// Sink receives audit events.
type Sink interface {
	Record(Event)
}

// Writer writes events as JSON lines; safe for concurrent use.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter writes the trail to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Record writes one line. A failing sink is reported on stderr rather than
// failing a reconcile: the Kubernetes Events carry the same story.
func (w *Writer) Record(e Event) { w.writeLine(e) }

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
}

// RecordAccess writes one line of the verifier's trail.
func (w *Writer) RecordAccess(a Access) { w.writeLine(a) }
