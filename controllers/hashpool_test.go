package controllers

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/keys"
)

func TestHashPoolBoundsConcurrentHashing(t *testing.T) {
	for _, limit := range []int{1, 3} {
		g := NewWithT(t)
		var inFlight, peak atomic.Int32
		release := make(chan struct{})
		pool := NewHashPool(keys.Hasher{}, limit)
		pool.hash = func(keys.Key) (string, error) {
			n := inFlight.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-release
			inFlight.Add(-1)
			return "h", nil
		}
		k, _ := keys.Generate("")
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() { _, _ = pool.Hash(context.Background(), k) })
		}
		g.Eventually(inFlight.Load).Should(BeEquivalentTo(limit))
		g.Consistently(inFlight.Load).Should(BeEquivalentTo(limit), "waiting callers queue instead of hashing")
		close(release)
		wg.Wait()
		g.Expect(peak.Load()).To(BeEquivalentTo(limit))
	}
}

func TestHashPoolWaitersGiveUpWithTheirContext(t *testing.T) {
	g := NewWithT(t)
	release := make(chan struct{})
	defer close(release)
	pool := NewHashPool(keys.Hasher{}, 1)
	pool.hash = func(keys.Key) (string, error) { <-release; return "h", nil }
	k, _ := keys.Generate("")
	go func() { _, _ = pool.Hash(context.Background(), k) }()
	g.Eventually(func() int { return len(pool.slots) }).Should(Equal(1))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := pool.Hash(ctx, k)
	g.Expect(err).To(MatchError(context.Canceled))
}
