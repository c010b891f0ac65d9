package verifier

import "sync"

// maxCertMemo and maxCertMemoBytes bound a certMemo, in entries and in
// the DER the entries hold. Only certificates that reached the verifier
// fill one: a TLS handshake's, or a trusted hop's header. Each TLS
// connection's certificate is an entry of its own, so without a byte
// bound a client making many connections with large certificates would
// pin their sum.
const (
	maxCertMemo      = 4096
	maxCertMemoBytes = 8 << 20
)

// certMemo remembers a client certificate as read before, with what is
// derived from it (thumbprint, lookup keys): a client sends the same
// certificate with every request, and reading and hashing it again costs
// more than the rest of a cached decision. Capped; a full memo evicts
// arbitrary entries.
type certMemo[K comparable] struct {
	mu      sync.RWMutex
	entries map[K]ClientCertificate
	// bytes is the DER size of the entries' certificates.
	bytes int
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
	size := cc.size()
	if size > maxCertMemoBytes {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.entries[k]; ok {
		m.bytes -= old.size()
		delete(m.entries, k)
	}
	for len(m.entries) >= maxCertMemo || m.bytes+size > maxCertMemoBytes {
		for old, evicted := range m.entries {
			m.bytes -= evicted.size()
			delete(m.entries, old)
			break
		}
	}
	m.entries[k] = cc
	m.bytes += size
}
