package analytics

import (
	"sync"
	"time"
)

// Summary is what status.usage shows of a key.
type Summary struct {
	// LastUsed is the last minute with a verified request; zero if none.
	LastUsed time.Time
	// Hour and Day are the last 60 minutes and the last 24 hours.
	Hour, Day Window
	// TopCountries and TopNetworks are the most frequent over the last
	// day, at most 5 each, most frequent first.
	TopCountries, TopNetworks []Count
}

// Window counts one period.
type Window struct {
	Requests uint64
	Permits  uint64
	Denials  uint64
	// TopDenials are the most frequent denial reasons, at most 3.
	TopDenials []Count
}

// KeyFinding is a finding and the key it is about.
type KeyFinding struct {
	KeyID string
	Finding
}

// Store holds every key's history and baseline. It is safe for concurrent
// use. Its memory per key is bounded (docs/analytics.md says how much),
// and so is the number of keys (MaxKeys).
type Store struct {
	params  Params
	maxKeys int

	mu   sync.Mutex
	keys map[string]*series
}

// series is one key's history and baseline.
type series struct{}

// NewStore returns an empty store that keeps at most maxKeys keys.
func NewStore(p Params, maxKeys int) *Store {
	return &Store{params: p, maxKeys: maxKeys, keys: map[string]*series{}}
}

// Commit adds a closed minute of a key (all replicas' counts summed) and
// returns what it makes the detectors find. Minutes of one key must come in
// order; a minute not after the key's last is ignored.
func (s *Store) Commit(keyID string, m Minute) []Finding {
	panic("not implemented")
}

// Tick runs the detectors that fire on absence (Silence) for every key, as
// of now, and returns what they find. Call it once a minute.
func (s *Store) Tick(now time.Time) []KeyFinding {
	panic("not implemented")
}

// Summary is a key's usage as of now; false when the store has no history
// of the key.
func (s *Store) Summary(keyID string, now time.Time) (Summary, bool) {
	panic("not implemented")
}

// Forget drops a key (deleted, revoked).
func (s *Store) Forget(keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, keyID)
}

// Len is the number of keys held.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}
