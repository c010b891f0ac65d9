package token

import (
	"crypto/sha256"
	"errors"
	"sync"
	"time"
)

// Errors from ReplayCache.SeenBefore. Each means the assertion must be
// refused; they differ so the caller can tell an attack from an overload.
var (
	// ErrReplayCacheFull: remembering this jti would mean forgetting one
	// that can still be replayed, so the assertion is refused instead.
	ErrReplayCacheFull = errors.New("replay cache is full")
	// ErrClientReplayLimit: one client key holds its whole share of the
	// cache, so it cannot lock every other client out.
	ErrClientReplayLimit = errors.New("client key has too many unexpired assertions")
	// ErrMissingJTI: without a jti an assertion cannot be told apart from
	// its replay (RFC 7523 §3, item 7).
	ErrMissingJTI = errors.New("assertion has no jti")
	// ErrAssertionExpired: the assertion is past exp plus leeway and no
	// validator would accept it.
	ErrAssertionExpired = errors.New("assertion has expired")
)

// ReplayCache remembers the jti of every client assertion until it could no
// longer pass validation (exp plus Leeway), so each one is used once.
//
// It fails closed: when it is full of entries that are still live it refuses
// new assertions rather than forget old ones, and each client key may hold at
// most PerClient entries. Entries are keyed by client key and a SHA-256 of
// the jti, so a long jti costs no more memory than a short one.
type ReplayCache struct {
	max, perClient int
	leeway         time.Duration

	mu       sync.Mutex
	entries  *expiring[replayKey, struct{}]
	byClient map[string]int
}

type replayKey struct {
	client string
	jti    [sha256.Size]byte
}

// NewReplayCache holds at most limit entries in all and perClient per client
// key (both at least 1). leeway must be the Validator's, so that an entry
// outlives every moment its assertion could be accepted.
func NewReplayCache(limit, perClient int, leeway time.Duration) *ReplayCache {
	return &ReplayCache{
		max:       max(limit, 1),
		perClient: max(perClient, 1),
		leeway:    max(leeway, 0),
		entries:   newExpiring[replayKey, struct{}](),
		byClient:  map[string]int{},
	}
}

// SeenBefore records the assertion and reports whether its jti was already
// used by the same client key. A non-nil error means the assertion must be
// refused even though it was not seen.
func (r *ReplayCache) SeenBefore(clientKeyID, jti string, exp, now time.Time) (bool, error) {
	if jti == "" {
		return false, ErrMissingJTI
	}
	until := exp.Add(r.leeway)
	if !now.Before(until) {
		return false, ErrAssertionExpired
	}
	k := replayKey{client: clientKeyID, jti: sha256.Sum256([]byte(jti))}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries.sweep(now, r.forget)
	if _, ok := r.entries.get(k); ok {
		return true, nil
	}
	if r.entries.len() >= r.max {
		return false, ErrReplayCacheFull
	}
	if r.byClient[clientKeyID] >= r.perClient {
		return false, ErrClientReplayLimit
	}
	r.entries.put(k, struct{}{}, until)
	r.byClient[clientKeyID]++
	return false, nil
}

func (r *ReplayCache) forget(s *slot[replayKey, struct{}]) {
	if r.byClient[s.key.client]--; r.byClient[s.key.client] <= 0 {
		delete(r.byClient, s.key.client)
	}
}

// Evict forgets every jti of one client key: the admin's way out for a
// client locked out by its per-client limit. Until they expire, the
// forgotten assertions could be replayed, so evict only a trusted key.
func (r *ReplayCache) Evict(clientKeyID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byClient[clientKeyID] == 0 {
		return
	}
	for k := range r.entries.items {
		if k.client == clientKeyID {
			r.entries.remove(k)
		}
	}
	delete(r.byClient, clientKeyID)
}

// Len is the number of remembered assertions.
func (r *ReplayCache) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entries.len()
}
