package verifier

import "sync"

// maxCertMemo bounds a certMemo. Only certificates that reached the
// verifier fill one: a TLS handshake's, or a trusted hop's header.
const maxCertMemo = 4096

// certMemo remembers a client certificate as read before, with what is
// derived from it (thumbprint, lookup keys): a client sends the same
// certificate with every request, and reading and hashing it again costs
// more than the rest of a cached decision. Capped; a full memo evicts an
// arbitrary entry.
type certMemo[K comparable] struct {
	mu      sync.RWMutex
	entries map[K]ClientCertificate
}

func newCertMemo[K comparable]() *certMemo[K] {
	return &certMemo[K]{entries: map[K]ClientCertificate{}}
}

func (m *certMemo[K]) get(k K) (ClientCertificate, bool) {
	m.mu.RLock()
	cc, ok := m.entries[k]
	m.mu.RUnlock()
	return cc, ok
}

func (m *certMemo[K]) put(k K, cc ClientCertificate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.entries) >= maxCertMemo {
		for old := range m.entries {
			delete(m.entries, old)
			break
		}
	}
	m.entries[k] = cc
}
