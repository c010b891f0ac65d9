package verifier

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/keyward-dev/keyward/internal/keys"
)

// errHashingBusy means no hashing slot came free in time.
var errHashingBusy = errors.New("too many key verifications in progress")

// hasher runs PBKDF2 comparisons with bounded concurrency, and lets
// concurrent attempts with the same key share one computation. Waiting is
// bounded too: a request that cannot get a slot before its context ends is
// answered Indeterminate rather than queued without limit.
type hasher struct {
	slots   chan struct{}
	waiting atomic.Int64
	maxWait int64
	runs    atomic.Int64
	onRun   func()

	mu      sync.Mutex
	flights map[string]*flight
	// joined counts attempts that shared another's computation.
	joined atomic.Int64
}

type flight struct {
	done   chan struct{}
	serial string
	err    error
}

func newHasher(concurrency, maxWaiting int) *hasher {
	return &hasher{slots: make(chan struct{}, concurrency), maxWait: int64(maxWaiting), flights: map[string]*flight{}}
}

// match returns the serial of the first secret the key matches ("" when
// none). flightKey must identify both the key and the record version, so
// only identical attempts share a result.
func (h *hasher) match(ctx context.Context, flightKey string, key keys.Key, secrets []secretHash) (string, error) {
	h.mu.Lock()
	if f, ok := h.flights[flightKey]; ok {
		h.joined.Add(1)
		h.mu.Unlock()
		select {
		case <-f.done:
			return f.serial, f.err
		case <-ctx.Done():
			return "", errHashingBusy
		}
	}
	f := &flight{done: make(chan struct{})}
	h.flights[flightKey] = f
	h.mu.Unlock()

	f.serial, f.err = h.run(ctx, key, secrets)
	h.mu.Lock()
	delete(h.flights, flightKey)
	h.mu.Unlock()
	close(f.done)
	return f.serial, f.err
}

func (h *hasher) run(ctx context.Context, key keys.Key, secrets []secretHash) (string, error) {
	if h.waiting.Add(1) > h.maxWait {
		h.waiting.Add(-1)
		return "", errHashingBusy
	}
	select {
	case h.slots <- struct{}{}:
		h.waiting.Add(-1)
	case <-ctx.Done():
		h.waiting.Add(-1)
		return "", errHashingBusy
	}
	defer func() { <-h.slots }()
	for _, s := range secrets {
		h.runs.Add(1)
		if h.onRun != nil {
			h.onRun()
		}
		ok, err := keys.Verify(key, s.hash)
		if err != nil {
			return "", err
		}
		if ok {
			return s.serial, nil
		}
	}
	return "", nil
}

type secretHash struct{ serial, hash string }
