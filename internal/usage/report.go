package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyward-dev/keyward/internal/keys"
)

// The ConfigMap that carries a replica's report: the manager's cache holds
// only ConfigMaps with Label set to "true".
const (
	Label      = "keyward.dev/usage"
	DataKey    = "usage.json"
	NamePrefix = "keyward-usage-"
)

// MaxKeys bounds a report: at about 120 bytes a key, 2,000 keys make some
// 240 KB, far below the 1 MiB an object may hold, and keep the manager's
// decoding cheap. A verifier that counts more keys reports the ones used
// most recently; the others keep the status they last had.
const MaxKeys = 2000

// maxNameLength is what Kubernetes allows for a ConfigMap's name.
const maxNameLength = 253

// Entry is one key's quota in the current period.
type Entry struct {
	Used      int64     `json:"used"`
	Remaining int64     `json:"remaining"`
	ResetAt   time.Time `json:"resetAt"`
}

// Report is what one replica saw of every key it counted.
type Report struct {
	ReportedAt time.Time        `json:"reportedAt"`
	Keys       map[string]Entry `json:"keys"`
}

// Name is the ConfigMap name of a replica's report. Replica names come from
// pod names or hostnames, which are DNS names already; lower-casing covers
// a hostname that is not.
func Name(replica string) (string, error) {
	name := NamePrefix + strings.ToLower(replica)
	if replica == "" || len(name) > maxNameLength {
		return "", fmt.Errorf("replica name %q does not make a ConfigMap name", replica)
	}
	return name, nil
}

// Encode writes a report with times in RFC 3339 at second precision: the
// status has no finer resolution, and equal reports encode equally.
func Encode(r Report) ([]byte, error) {
	if len(r.Keys) > MaxKeys {
		return nil, fmt.Errorf("report of %d keys exceeds %d", len(r.Keys), MaxKeys)
	}
	out := Report{ReportedAt: seconds(r.ReportedAt), Keys: make(map[string]Entry, len(r.Keys))}
	for id, e := range r.Keys {
		e.ResetAt = seconds(e.ResetAt)
		out.Keys[id] = e
	}
	return json.Marshal(out)
}

// EncodeKeys is the part of a report that changes only when usage does:
// a replica compares it to decide whether a report is worth writing.
func EncodeKeys(entries map[string]Entry) ([]byte, error) {
	return Encode(Report{Keys: entries})
}

// Decode reads a report, refusing one that a correct verifier would not
// write: a report is input from another process, and a bad one must not
// reach any status.
func Decode(data []byte) (Report, error) {
	var r Report
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Report{}, err
	}
	if r.ReportedAt.IsZero() {
		return Report{}, errors.New("reportedAt is missing")
	}
	if len(r.Keys) > MaxKeys {
		return Report{}, fmt.Errorf("report of %d keys exceeds %d", len(r.Keys), MaxKeys)
	}
	for id, e := range r.Keys {
		if err := keys.ValidateID(id); err != nil {
			return Report{}, err
		}
		if e.Used < 0 || e.Remaining < 0 || e.ResetAt.IsZero() {
			return Report{}, fmt.Errorf("key %s: negative counts or no resetAt", id)
		}
	}
	return r, nil
}

// Newer reports whether a describes a later state of a key's quota than b:
// a later period wins, then a later report, then more spent (counts only
// grow within a period).
func Newer(a, b Entry, aReported, bReported time.Time) bool {
	switch {
	case !a.ResetAt.Equal(b.ResetAt):
		return a.ResetAt.After(b.ResetAt)
	case !aReported.Equal(bReported):
		return aReported.After(bReported)
	default:
		return a.Used > b.Used
	}
}

// Changed lists the key IDs whose entries differ between two reports,
// including keys that appear in only one of them.
func Changed(before, after Report) []string {
	var ids []string
	for id, e := range after.Keys {
		if old, ok := before.Keys[id]; !ok || !sameEntry(old, e) {
			ids = append(ids, id)
		}
	}
	for id := range before.Keys {
		if _, ok := after.Keys[id]; !ok {
			ids = append(ids, id)
		}
	}
	return ids
}

func sameEntry(a, b Entry) bool {
	return a.Used == b.Used && a.Remaining == b.Remaining && a.ResetAt.Equal(b.ResetAt)
}

func seconds(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }
