package analytics

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Summary is what status.usage shows of a key.
type Summary struct {
	// LastUsed is the last minute with a verified request; zero if none.
	LastUsed time.Time
	// Hour is the 60 minutes before now's; Day the 24 clock hours up to
	// now (now's hour included).
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
// use. Its memory per key is fixed-size rings and sets, about 3.2 KiB
// (TestMemoryPerKey measures it), and the number of keys is bounded
// (maxKeys): a new key beyond it evicts the key least recently committed.
type Store struct {
	params  Params
	maxKeys int

	mu   sync.Mutex
	keys map[string]*series
	// lru lists the keys, most recently committed first (a sentinel ring).
	lru series
	// reasons interns denial reason codes for the keys' top lists.
	reasons reasonTable
	// incomplete is when some keys' use may be missing (Incomplete).
	incomplete incompleteMinutes
}

// NewStore returns an empty store that keeps at most maxKeys keys (at
// least one).
func NewStore(p Params, maxKeys int) *Store {
	s := &Store{params: p, maxKeys: max(1, maxKeys), keys: map[string]*series{}}
	s.lru.prev, s.lru.next = &s.lru, &s.lru
	return s
}

// Commit adds a closed minute of a key (all replicas' counts summed) and
// returns what it makes the detectors find. Minutes of one key must come in
// order; a minute not after the key's last is ignored, and so is a minute
// Validate refuses.
func (s *Store) Commit(keyID string, m Minute) []Finding {
	if m.Validate() != nil {
		return nil
	}
	i, ok := minuteOf(m.Start)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.series(keyID)
	if i <= k.last {
		return nil
	}
	return k.commit(i, m, s.params, &s.reasons, &s.incomplete)
}

// series returns the key's series, made (and the least recently committed
// key evicted, when full) if new, and marks it most recently committed.
func (s *Store) series(keyID string) *series {
	k, ok := s.keys[keyID]
	if ok {
		s.unlink(k)
	} else {
		if len(s.keys) >= s.maxKeys {
			oldest := s.lru.prev
			s.unlink(oldest)
			delete(s.keys, oldest.key)
		}
		k = &series{key: keyID}
		s.keys[keyID] = k
	}
	k.prev, k.next = &s.lru, s.lru.next
	s.lru.next.prev = k
	s.lru.next = k
	return k
}

func (s *Store) unlink(k *series) {
	k.prev.next, k.next.prev = k.next, k.prev
	k.prev, k.next = nil, nil
}

// Tick runs the detectors that fire on absence (Silence) for every key, as
// of now, and returns what they find, by key ID. Call it once a minute.
func (s *Store) Tick(now time.Time) []KeyFinding {
	i, ok := minuteOf(now)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []KeyFinding
	for id, k := range s.keys {
		if f, ok := k.silence(i, s.params, &s.incomplete); ok {
			found = append(found, KeyFinding{KeyID: id, Finding: f})
		}
	}
	slices.SortFunc(found, func(a, b KeyFinding) int { return strings.Compare(a.KeyID, b.KeyID) })
	return found
}

// Summary is a key's usage as of now; false when the store has no history
// of the key. It depends only on the minutes committed and on now's
// minute, and stops changing a day after the key's last minute: an idle
// key's status is never rewritten.
func (s *Store) Summary(keyID string, now time.Time) (Summary, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[keyID]
	if !ok {
		return Summary{}, false
	}
	i, ok := minuteOf(now)
	if !ok {
		return Summary{}, false
	}
	return k.summary(i, &s.reasons), true
}

// Forget drops a key (deleted, revoked).
func (s *Store) Forget(keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[keyID]; ok {
		s.unlink(k)
		delete(s.keys, keyID)
	}
}

// Len is the number of keys held.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}
