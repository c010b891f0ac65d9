package verifier

import (
	"sync"
	"time"
)

// backoff slows down guessing: after a few failed verifications of the same
// identifier (a key ID, a client address), further attempts are refused
// without hashing until a delay that doubles with every failure has passed.
// Keys that verified before are unaffected, because the cache answers them
// before backoff is consulted.
//
// Once an identifier has failed, its attempts in flight count against the
// allowance: a flood of concurrent guesses gets the free failures' worth of
// hashes and then one whenever a delay runs out, not one per connection
// that asked at that moment.
type backoff struct {
	mu      sync.Mutex
	free    int           // failures allowed before any delay
	base    time.Duration // first delay
	max     time.Duration // longest delay
	cap     int           // most identifiers tracked
	entries map[string]*failures
}

type failures struct {
	count int
	// inflight counts the attempts admitted and not yet done.
	inflight int
	until    time.Time // refused until then
	last     time.Time
}

func newBackoff(free int, base, max time.Duration, capacity int) *backoff {
	return &backoff{free: free, base: base, max: max, cap: capacity, entries: map[string]*failures{}}
}

// admit reports whether id may attempt a verification now; if not, until
// when it must wait (zero while other attempts of id are in flight). An
// admitted attempt ends with fail, succeed or done.
func (b *backoff) admit(id string, now time.Time) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.entries[id]
	if !ok {
		// No failure yet: a client's burst of first requests is not held
		// back, and nothing is tracked for it.
		return time.Time{}, true
	}
	if now.Before(f.until) {
		return f.until, false
	}
	if f.inflight > 0 && f.count+f.inflight >= max(b.free, 1) {
		return time.Time{}, false
	}
	f.inflight++
	return time.Time{}, true
}

// done ends an admitted attempt that neither failed nor succeeded.
func (b *backoff) done(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if f, ok := b.entries[id]; ok {
		f.inflight = max(f.inflight-1, 0)
	}
}

// fail records a failure of id. When the table is full and no entry has
// served its time, the failure is not tracked and full reports true: the
// caller then refuses further hashing for untracked identifiers, so flooding
// the table with fresh addresses can neither grow memory nor wipe out the
// backoff of the identifiers already in it.
func (b *backoff) fail(id string, now time.Time) (full bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.entries[id]
	if !ok {
		if len(b.entries) >= b.cap && !b.evictExpiredLocked(now) {
			return true
		}
		f = &failures{}
		b.entries[id] = f
	}
	f.count++
	f.inflight = max(f.inflight-1, 0)
	f.last = now
	if f.count > b.free {
		d := b.base << min(f.count-b.free-1, 30)
		if d > b.max || d <= 0 {
			d = b.max
		}
		f.until = now.Add(d)
	}
	return false
}

// full reports whether a new identifier could not be tracked.
func (b *backoff) full(id string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.entries[id]; ok || len(b.entries) < b.cap {
		return false
	}
	return !b.evictExpiredLocked(now)
}

// succeed forgets the failures of id, and its attempts in flight: the
// secret is known now.
func (b *backoff) succeed(id string) {
	b.mu.Lock()
	delete(b.entries, id)
	b.mu.Unlock()
}

// evictExpiredLocked drops entries idle for longer than the longest delay:
// they no longer slow anyone down. It scans a bounded number of entries so
// that a full table costs each failure little.
func (b *backoff) evictExpiredLocked(now time.Time) bool {
	const scan = 64
	n := 0
	evicted := false
	for id, f := range b.entries {
		if now.Sub(f.last) > b.max && !now.Before(f.until) {
			delete(b.entries, id)
			evicted = true
		}
		if n++; n >= scan {
			break
		}
	}
	return evicted
}

func (b *backoff) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.entries)
}
