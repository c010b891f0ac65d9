package token

import (
	"errors"
	"sync"
	"time"
)

var (
	// ErrClockSkewJump: the client's clock moved against ours by more than
	// the threshold since its last assertion. A real clock rarely jumps; a
	// stolen key used from another machine, or pre-signed assertions, do.
	ErrClockSkewJump = errors.New("client clock offset jumped")
	// ErrClientRefused: the client is within the timeout of an earlier jump.
	ErrClientRefused = errors.New("client refused after a clock offset jump")
	// ErrSkewTrackerFull: every tracked client is refused, and forgetting
	// one would lift its refusal.
	ErrSkewTrackerFull = errors.New("clock skew tracker is full")
)

// SkewTracker follows, per client key, the offset between our clock and the
// iat of the client's assertions. The first offset it sees is the client's
// baseline; later offsets may drift from the previous one by up to
// Threshold. A larger jump refuses the client until Timeout has passed, after
// which the next observation starts a fresh baseline.
//
// It holds at most a fixed number of clients. When full it forgets the
// client seen least recently that is not refused; it never forgets a refused
// one, since that would lift the refusal.
type SkewTracker struct {
	threshold, timeout time.Duration
	max                int

	mu      sync.Mutex
	clients map[string]*skewState
}

type skewState struct {
	offset       time.Duration
	lastSeen     time.Time
	refusedUntil time.Time
}

// NewSkewTracker tracks at most limit client keys (at least 1).
func NewSkewTracker(threshold, timeout time.Duration, limit int) *SkewTracker {
	return &SkewTracker{threshold: threshold, timeout: timeout, max: max(limit, 1), clients: map[string]*skewState{}}
}

// Observe records the iat of an assertion that otherwise validated and
// returns an error if the client must be refused.
func (t *SkewTracker) Observe(clientKeyID string, iat, now time.Time) error {
	offset := now.Sub(iat)
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.clients[clientKeyID]
	if !ok {
		if len(t.clients) >= t.max && !t.forgetOne(now) {
			return ErrSkewTrackerFull
		}
		t.clients[clientKeyID] = &skewState{offset: offset, lastSeen: now}
		return nil
	}
	if now.Before(st.refusedUntil) {
		return ErrClientRefused
	}
	if !st.refusedUntil.IsZero() {
		*st = skewState{offset: offset, lastSeen: now}
		return nil
	}
	st.lastSeen = now
	if d := offset - st.offset; d > t.threshold || -d > t.threshold {
		st.refusedUntil = now.Add(t.timeout)
		return ErrClockSkewJump
	}
	st.offset = offset
	return nil
}

// Refused reports whether the client is currently refused.
func (t *SkewTracker) Refused(clientKeyID string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.clients[clientKeyID]
	return ok && now.Before(st.refusedUntil)
}

// Evict forgets a client key, lifting any refusal: the admin action after
// the client's clock or key has been dealt with.
func (t *SkewTracker) Evict(clientKeyID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.clients, clientKeyID)
}

// Len is the number of tracked client keys.
func (t *SkewTracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.clients)
}

// forgetOne scans every client; it runs only when the tracker is full and a
// new client key appears, and client keys are enrolled by admins, not
// created by traffic.
func (t *SkewTracker) forgetOne(now time.Time) bool {
	var victim string
	var oldest time.Time
	found := false
	for id, st := range t.clients {
		if now.Before(st.refusedUntil) {
			continue
		}
		if !found || st.lastSeen.Before(oldest) || (st.lastSeen.Equal(oldest) && id < victim) {
			victim, oldest, found = id, st.lastSeen, true
		}
	}
	if found {
		delete(t.clients, victim)
	}
	return found
}
