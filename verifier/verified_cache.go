package verifier

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"sync"
)

// macKey identifies a presented key without holding it: HMAC-SHA256 under a
// key drawn at start-up and never stored, so neither a memory dump of the
// cache nor another process can turn an entry back into a usable key.
type macKey [sha256.Size]byte

type macer struct{ pool sync.Pool }

// macState is one HMAC with scratch space, pooled so that a request's MAC
// allocates nothing.
type macState struct {
	h   hash.Hash
	in  []byte
	out []byte
}

func newMacer() (*macer, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	m := &macer{}
	m.pool.New = func() any { return &macState{h: hmac.New(sha256.New, secret)} }
	return m, nil
}

func (m *macer) sum(plaintext string) macKey {
	st := m.pool.Get().(*macState)
	st.h.Reset()
	st.in = append(st.in[:0], plaintext...)
	st.h.Write(st.in)
	st.out = st.h.Sum(st.out[:0])
	var out macKey
	copy(out[:], st.out)
	clear(st.in) // the buffer held a key
	m.pool.Put(st)
	return out
}

// verified is what the cache remembers about a key that verified: which
// secret it matched in which version of the record.
type verified struct {
	keyID   string
	version int64
	serial  string
}

// verifiedCache remembers keys that verified, so that each key costs one
// PBKDF2 per record version and process. Only a correct key can add an
// entry, so its size grows with legitimate use; it is still capped, and a
// full cache evicts an arbitrary entry, which costs its owner one hash.
//
// Every request with a key reads it, so reads take no lock: a sync.Map's
// reads write nothing shared, where even a read lock is a write the cores
// taking requests contend for. Writes, rare (a secret's first use per
// record version), hold mu and keep entries, byKeyID and size together.
type verifiedCache struct {
	entries sync.Map // macKey → verified
	mu      sync.Mutex
	max     int
	size    int
	byKeyID map[string][]macKey
}

func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{max: max, byKeyID: map[string][]macKey{}}
}

// get returns the entry for mac if it was made from this record version.
func (c *verifiedCache) get(mac macKey, keyID string, version int64) (verified, bool) {
	got, ok := c.entries.Load(mac)
	if !ok {
		return verified{}, false
	}
	v := got.(verified)
	if v.keyID != keyID || v.version != version {
		return verified{}, false
	}
	return v, true
}

// put adds an entry and reports whether this is the first time the secret
// verified in this cache (the audit trail's "first use").
func (c *verifiedCache) put(mac macKey, v verified) (first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if got, ok := c.entries.Load(mac); ok {
		old := got.(verified)
		if old.keyID == v.keyID {
			c.entries.Store(mac, v)
			return false
		}
		c.removeLocked(mac, old.keyID)
	}
	for c.size >= c.max && c.size > 0 {
		for keyID, macs := range c.byKeyID {
			c.removeLocked(macs[0], keyID)
			break
		}
	}
	c.entries.Store(mac, v)
	c.size++
	c.byKeyID[v.keyID] = append(c.byKeyID[v.keyID], mac)
	return true
}

// forget drops every entry of a key whose record changed or went.
func (c *verifiedCache) forget(keyID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, mac := range c.byKeyID[keyID] {
		c.entries.Delete(mac)
		c.size--
	}
	delete(c.byKeyID, keyID)
}

func (c *verifiedCache) removeLocked(mac macKey, keyID string) {
	c.entries.Delete(mac)
	c.size--
	macs := c.byKeyID[keyID]
	for i, m := range macs {
		if m == mac {
			macs = append(macs[:i], macs[i+1:]...)
			break
		}
	}
	if len(macs) == 0 {
		delete(c.byKeyID, keyID)
	} else {
		c.byKeyID[keyID] = macs
	}
}

func (c *verifiedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
