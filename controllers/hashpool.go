package controllers

import (
	"context"
	"runtime"
	"time"

	"github.com/keyward-dev/keyward/internal/keys"
)

// HashPool runs PBKDF2 with bounded concurrency. A burst of new keys then
// queues here instead of taking every core from the manager's other work
// (leader election renewals, other controllers, the API client).
type HashPool struct {
	hash  func(keys.Key) (string, error)
	slots chan struct{}
}

// DefaultHashConcurrency leaves one core for everything else.
func DefaultHashConcurrency() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// NewHashPool returns a pool that runs at most concurrency hashes at once.
func NewHashPool(h keys.Hasher, concurrency int) *HashPool {
	return &HashPool{hash: h.Hash, slots: make(chan struct{}, max(1, concurrency))}
}

// Hash waits for a slot, then hashes the key.
func (p *HashPool) Hash(ctx context.Context, k keys.Key) (string, error) {
	waitStart := time.Now()
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-p.slots }()
	hashWaitSeconds.Observe(time.Since(waitStart).Seconds())
	start := time.Now()
	phc, err := p.hash(k)
	hashSeconds.Observe(time.Since(start).Seconds())
	hashesTotal.Inc()
	return phc, err
}

// Verify waits for a slot, then checks the key against a PHC hash. The
// manager verifies only to recognise, once, the delivered secrets of a key
// whose fingerprints it cannot check (a record written before
// fingerprints, or a fingerprint key lost).
func (p *HashPool) Verify(ctx context.Context, k keys.Key, phc string) (bool, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-p.slots }()
	hashesTotal.Inc()
	return keys.Verify(k, phc)
}
