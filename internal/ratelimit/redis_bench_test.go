package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// BenchmarkRedisStoreTakeAll is one call with a per-second token bucket
// and a daily quota, the common shape of a key's limits, over loopback.
func BenchmarkRedisStoreTakeAll(b *testing.B) {
	srv := testutil.StartRedisServer(b)
	store := NewRedisStore(srv.Client(), RedisOptions{})
	reqs := []Request{
		redisReq("acme/k1", Limit{Name: "per-second", Strategy: TokenBucket, Limit: 1 << 40, Period: time.Second}, 1),
		redisReq("acme/k1", Limit{Name: "daily", Strategy: Quota, Limit: 1 << 50, Refill: Daily}, 1),
	}
	ctx := context.Background()
	now := redisT0
	for i := 0; b.Loop(); i++ {
		if _, err := store.TakeAll(ctx, now.Add(time.Duration(i)*time.Microsecond), reqs); err != nil {
			b.Fatal(err)
		}
	}
}
