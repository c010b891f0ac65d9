package verifier

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward-dev/keyward/internal/keys"
)

// errHashingBusy means no hashing slot came free in time.
var errHashingBusy = errors.New("too many key verifications in progress")

// hasher runs PBKDF2 comparisons with bounded concurrency, and lets
// concurrent attempts with the same key share one computation. Waiting is
// bounded too: a request that cannot get a slot before its context ends is
// answered Indeterminate rather than queued without limit.
type hasher struct {
	slots chan struct{}
	// spare admits one background computation at a time (leak
	// reports), which takes a slot only when no request waits for one.
	spare   chan struct{}
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
	return &hasher{slots: make(chan struct{}, concurrency), spare: make(chan struct{}, 1), maxWait: int64(maxWaiting), flights: map[string]*flight{}}
}

// match returns the serial of the first secret the key matches ("" when
// none). flightKey must identify both the key and the record version, so
// only identical attempts share a result.
func (h *hasher) match(ctx context.Context, flightKey string, key keys.Key, secrets []secretHash) (string, error) {
	return h.shared(ctx, flightKey, func() (string, error) { return h.run(ctx, h.acquire, key, secrets) })
}

// matchWhenIdle is match for work nobody waits on: it never holds more
// than one slot, and takes one only while no request waits for it, so it
// cannot delay a request's decision.
func (h *hasher) matchWhenIdle(ctx context.Context, flightKey string, key keys.Key, secrets []secretHash) (string, error) {
	return h.shared(ctx, flightKey, func() (string, error) { return h.run(ctx, h.acquireIdle, key, secrets) })
}

// shared lets concurrent attempts with the same flightKey share one
// computation.
func (h *hasher) shared(ctx context.Context, flightKey string, compute func() (string, error)) (string, error) {
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

	f.serial, f.err = compute()
	h.mu.Lock()
	delete(h.flights, flightKey)
	h.mu.Unlock()
	close(f.done)
	return f.serial, f.err
}

// acquire takes a slot, waiting in the bounded queue; it returns the
// function that gives the slot back.
func (h *hasher) acquire(ctx context.Context) (func(), error) {
	if h.waiting.Add(1) > h.maxWait {
		h.waiting.Add(-1)
		return nil, errHashingBusy
	}
	select {
	case h.slots <- struct{}{}:
		h.waiting.Add(-1)
		return func() { <-h.slots }, nil
	case <-ctx.Done():
		h.waiting.Add(-1)
		return nil, errHashingBusy
	}
}

// idlePoll is how often background work looks for an idle slot.
const idlePoll = 20 * time.Millisecond

// acquireIdle takes the spare admission, then a slot that is free while
// nobody waits; it never joins the queue.
func (h *hasher) acquireIdle(ctx context.Context) (func(), error) {
	select {
	case h.spare <- struct{}{}:
	case <-ctx.Done():
		return nil, errHashingBusy
	}
	t := time.NewTicker(idlePoll)
	defer t.Stop()
	for {
		if h.waiting.Load() == 0 {
			select {
			case h.slots <- struct{}{}:
				return func() { <-h.slots; <-h.spare }, nil
			default:
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			<-h.spare
			return nil, errHashingBusy
		}
	}
}

func (h *hasher) run(ctx context.Context, acquire func(context.Context) (func(), error), key keys.Key, secrets []secretHash) (string, error) {
	release, err := acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
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
