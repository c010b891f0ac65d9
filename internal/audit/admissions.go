package audit

import (
	"strings"
	"sync"
)

// MaxAdmissions bounds what a Writer remembers of admitted changes:
// admission requests, which any editor of any namespace can send, must not
// grow the manager's memory. A lifecycle line is written within moments of
// its admission, so the latest few thousand are plenty; an evicted one
// costs only the direct name on the lifecycle line, never the admission
// line itself.
const MaxAdmissions = 4096

// admissions remembers admission lines by object and change, in a ring of
// MaxAdmissions entries: the oldest goes first.
type admissions struct {
	mu    sync.Mutex
	byKey map[admissionKey]Event
	// ring holds the keys in the order they were remembered; live counts
	// a key's places in it, as a key remembered again is there twice.
	ring []admissionKey
	next int
	live map[admissionKey]int
}

type admissionKey struct{ uid, change string }

// remember keeps the changes of an admission line.
func (a *admissions) remember(e Event) {
	if e.UID == "" || e.Actor == "" || len(e.Changes) == 0 || !strings.HasPrefix(e.Action, "admitted_") {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byKey == nil {
		a.byKey, a.live = map[admissionKey]Event{}, map[admissionKey]int{}
		a.ring = make([]admissionKey, 0, MaxAdmissions)
	}
	for _, c := range e.Changes {
		k := admissionKey{e.UID, c}
		if len(a.ring) < MaxAdmissions {
			a.ring = append(a.ring, k)
		} else {
			a.forget(a.ring[a.next])
			a.ring[a.next] = k
			a.next = (a.next + 1) % MaxAdmissions
		}
		a.byKey[k] = e
		a.live[k]++
	}
}

// forget drops a key's oldest place in the ring, and its entry once it
// has no place left.
func (a *admissions) forget(k admissionKey) {
	if a.live[k]--; a.live[k] <= 0 {
		delete(a.live, k)
		delete(a.byKey, k)
	}
}

// find returns the admission line of change to uid at generation (any
// generation for a deletion).
func (a *admissions) find(uid string, generation int64, change string) (Event, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.byKey[admissionKey{uid, change}]
	if !ok || (change != Deleted && e.Generation != generation) {
		return Event{}, false
	}
	return e, true
}
