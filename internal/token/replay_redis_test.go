package token

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// TestSharedReplayCacheAcceptsAJTIOnceAcrossReplicas: two caches with
// clients of their own, as two verifier replicas have, and a third made
// after the first is gone, as a restarted replica: a jti passes once.
func TestSharedReplayCacheAcceptsAJTIOnceAcrossReplicas(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	srv := testutil.StartRedisServer(t)
	t0 := time.Now()
	exp := t0.Add(time.Minute)
	a := NewSharedReplayCache(srv.Client(), "", 10, 30*time.Second)
	b := NewSharedReplayCache(srv.Client(), "", 10, 30*time.Second)

	seen, err := a.SeenBefore(ctx, "kid-1", "jti-1", exp, t0)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(seen).To(BeFalse())
	seen, err = b.SeenBefore(ctx, "kid-1", "jti-1", exp, t0.Add(time.Second))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(seen).To(BeTrue(), "another replica sees the jti")
	restarted := NewSharedReplayCache(srv.Client(), "", 10, 30*time.Second)
	seen, err = restarted.SeenBefore(ctx, "kid-1", "jti-1", exp, t0.Add(2*time.Second))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(seen).To(BeTrue(), "a restarted replica sees the jti")

	// Another client key's identical jti is its own.
	seen, err = b.SeenBefore(ctx, "kid-2", "jti-1", exp, t0)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(seen).To(BeFalse())

	// The set goes away by itself once its last assertion expired.
	ttl, err := srv.Client().PTTL(ctx, DefaultReplayPrefix+"kid-1").Result()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ttl).To(BeNumerically(">", time.Minute))
	g.Expect(ttl).To(BeNumerically("<=", 2*time.Minute))
}

// TestSharedReplayCacheKeepsTheInMemoryRules: a missing jti, an expired
// assertion and a client over its share are refused as in ReplayCache;
// the share frees up as assertions expire.
func TestSharedReplayCacheKeepsTheInMemoryRules(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	srv := testutil.StartRedisServer(t)
	leeway := 10 * time.Second
	c := NewSharedReplayCache(srv.Client(), "rules:", 1, leeway)
	t0 := time.Now()
	exp := t0.Add(time.Minute)

	_, err := c.SeenBefore(ctx, "kid", "", exp, t0)
	g.Expect(err).To(MatchError(ErrMissingJTI))
	_, err = c.SeenBefore(ctx, "kid", "late", exp, exp.Add(leeway))
	g.Expect(err).To(MatchError(ErrAssertionExpired))

	_, err = c.SeenBefore(ctx, "kid", "first", exp, t0)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.SeenBefore(ctx, "kid", "second", exp, t0)
	g.Expect(err).To(MatchError(ErrClientReplayLimit))
	// Kept a leeway past the moment it stopped being acceptable, for
	// replicas whose clocks run behind; then forgotten.
	later := exp.Add(2*leeway - time.Second)
	_, err = c.SeenBefore(ctx, "kid", "second", later.Add(time.Minute), later)
	g.Expect(err).To(MatchError(ErrClientReplayLimit))
	later = exp.Add(2 * leeway)
	seen, err := c.SeenBefore(ctx, "kid", "second", later.Add(time.Minute), later)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(seen).To(BeFalse())
}

// TestSharedReplayCacheFailsClosed: without Redis no assertion passes.
func TestSharedReplayCacheFailsClosed(t *testing.T) {
	g := NewWithT(t)
	srv := testutil.StartRedisServer(t)
	c := NewSharedReplayCache(srv.Client(), "", 10, time.Second)
	srv.Stop()
	now := time.Now()
	seen, err := c.SeenBefore(context.Background(), "kid", "jti", now.Add(time.Minute), now)
	g.Expect(err).To(MatchError(ErrReplayStoreUnavailable))
	g.Expect(seen).To(BeFalse())
}
