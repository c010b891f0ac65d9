package soak

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// secret is one of a key's secrets as its client sends it.
type secret struct {
	plain string
	// serial names the secret in the key's record.
	serial string
	key    *key
	// source is the client's address: each secret has its own, as the
	// clients still on a previous secret are other processes than those
	// on the new one, and failures back off per key and source.
	source  string
	history history
}

// key is one APIKey of the pool and what the test expects of it.
type key struct {
	name, keyID string
	state       string
	history     history
	// current is the delivered secret, previous the one before it, in
	// or past its grace.
	current, previous *secret
	rotations         int
}

const (
	active    = "active"
	suspended = "suspended"
	revoked   = "revoked"
)

// model is the pool of keys. The chaos loop changes it; the driver reads
// targets, the secrets it sends, which is replaced whole on each change.
// Histories are read only once the chaos loop has ended.
type model struct {
	mu      sync.Mutex
	keys    []*key
	sources int
	targets atomic.Pointer[[]*secret]
}

func (m *model) newSecret(k *key, plain, serial string) *secret {
	m.sources++
	return &secret{plain: plain, serial: serial, key: k, source: fmt.Sprintf("10.%d.%d.%d", m.sources>>16&255, m.sources>>8&255, m.sources&255)}
}

// revokedTargets is how many of the most recently revoked keys the driver
// goes on sending: enough to prove each revocation holds, few enough that
// the traffic stays mostly that of keys in use, as a real one is, rather
// than of the revoked keys a long soak piles up.
const revokedTargets = 5

// publish makes the driver send every live key's current and previous
// secret, and those of the last revokedTargets revoked keys.
func (m *model) publish() {
	var ts []*secret
	revokedLeft := revokedTargets
	for i := len(m.keys) - 1; i >= 0; i-- {
		k := m.keys[i]
		if k.state == revoked {
			if revokedLeft == 0 {
				continue
			}
			revokedLeft--
		}
		ts = append(ts, k.current)
		if k.previous != nil {
			ts = append(ts, k.previous)
		}
	}
	m.targets.Store(&ts)
}
