package token

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Cache remembers tokens a Validator already accepted, so a client that
// sends the same token on every request pays for one signature check.
//
// Entries are keyed by the SHA-256 of the whole compact token, not of its
// signature part alone: a signature copied onto a different header and
// payload must not hit the entry of the token it came from. Only the hash is
// kept, never the token.
//
// An entry lives until the token's exp. When the cache is full, expired
// entries go first and then the entry that expires soonest: it has the least
// validity left to save work on. Only validated tokens are stored, so an
// attacker cannot fill the cache with forged ones.
//
// A cache belongs to one Validator (one issuer and audience). Call Purge when
// the published keys change, because an entry does not remember that its key
// was withdrawn.
type Cache struct {
	max int

	mu      sync.Mutex
	entries *expiring[[sha256.Size]byte, Claims]
}

// NewCache returns a cache holding at most limit tokens (at least 1).
func NewCache(limit int) *Cache {
	return &Cache{max: max(limit, 1), entries: newExpiring[[sha256.Size]byte, Claims]()}
}

func cacheKey(raw string) [sha256.Size]byte {
	return sha256.Sum256([]byte(raw))
}

// Get returns the claims stored for raw if they have not expired at now.
func (c *Cache) Get(raw string, now time.Time) (Claims, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.entries.get(cacheKey(raw))
	if !ok || !now.Before(s.exp) {
		return Claims{}, false
	}
	return s.val, true
}

// Put stores the claims of a token that has just been validated. Tokens
// already expired at now are not stored.
func (c *Cache) Put(raw string, claims Claims, now time.Time) {
	if !now.Before(claims.Expiry) {
		return
	}
	k := cacheKey(raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries.get(k); !ok {
		c.entries.sweep(now, nil)
		for c.entries.len() >= c.max {
			c.entries.popSoonest()
		}
	}
	c.entries.put(k, claims, claims.Expiry)
}

// Purge forgets every entry.
func (c *Cache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries.clear()
}

// Len is the number of entries, expired ones included until they are swept.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.len()
}
