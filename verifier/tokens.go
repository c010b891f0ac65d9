package verifier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/utils/clock"

	"github.com/keyward-dev/keyward/internal/signingrecord"
	"github.com/keyward-dev/keyward/internal/token"
)

// Tokens is the verifier's JWT side: what it needs to issue access tokens,
// to validate them and client assertions, and the bounded state that goes
// with it. Build it with NewTokens and pass it in Options.
type Tokens struct {
	keys   *SigningKeys
	set    oauthSettings
	clock  clock.PassiveClock
	issued *token.Validator
	cache  *token.Cache
	replay *token.ReplayCache
	// shared, when Redis is configured, replaces replay: every replica
	// then accepts a jti once, and a restart forgets none.
	shared *token.SharedReplayCache
	skew   *token.SkewTracker

	scopeSets  sync.Map // token scope string → tokenScopes
	nScopeSets atomic.Int32

	metrics tokenMetrics
}

// NewTokens validates c; it returns nil, nil when c turns tokens off.
func NewTokens(keys *SigningKeys, c OAuthConfig, clk clock.PassiveClock) (*Tokens, error) {
	set, err := c.compile()
	if err != nil || !set.enabled {
		return nil, err
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	t := &Tokens{
		keys: keys, set: set, clock: clk,
		cache:   token.NewCache(set.tokenCache),
		replay:  token.NewReplayCache(set.replay, set.perClient, set.leeway),
		skew:    token.NewSkewTracker(set.skewStep, set.skewWait, set.skewTracked),
		metrics: newTokenMetrics(),
	}
	t.issued = &token.Validator{
		Keys: token.KeyResolverFunc(func(kid string) (token.ResolvedKey, bool) {
			return keys.issuerKey(kid, t.clock.Now())
		}),
		Issuer: set.issuer, Audience: set.audience, Leeway: set.leeway,
		Algorithms: []string{token.RS256, token.ES256},
	}
	// A cached token does not remember its key: any change of the keys
	// empties the cache, so a withdrawn key's tokens are checked again.
	keys.changed = t.cache.Purge
	keys.evicted = t.Evict
	return t, nil
}

// Evict forgets a client key's assertion jti values and clock-skew state:
// the admin's "delete the signature session". The shared replay cache
// needs no call: its entries are filed under the eviction marker, so every
// replica moves to a fresh set the moment it sees the new marker, and none
// can wipe jti values another replica recorded after the eviction.
func (t *Tokens) Evict(kid string) {
	t.replay.Evict(kid)
	t.skew.Evict(kid)
}

// shareReplay keeps the jti values in Redis from now on.
func (t *Tokens) shareReplay(client redis.Scripter, prefix string) {
	t.shared = token.NewSharedReplayCache(client, prefix, t.set.perClient, t.set.leeway)
}

// seenBefore records an assertion's jti where the replicas share it, or in
// this process without Redis.
func (t *Tokens) seenBefore(ctx context.Context, rec signingrecord.Record, c token.Claims, now time.Time) (bool, error) {
	if t.shared == nil {
		return t.replay.SeenBefore(rec.KID, c.ID, c.Expiry, now)
	}
	return t.shared.SeenBefore(ctx, sharedReplaySet(rec), c.ID, c.Expiry, now)
}

// sharedReplaySet names a client key's jti set in Redis: its kid and a
// digest of its eviction marker, so an eviction starts a new set.
func sharedReplaySet(rec signingrecord.Record) string {
	d := sha256.Sum256([]byte(rec.Eviction))
	return rec.KID + ":" + hex.EncodeToString(d[:8])
}

// tokenLifetime is how long a token signed by a key with the given
// lifetime may live.
func (t *Tokens) tokenLifetime(keyLifetime time.Duration) time.Duration {
	if keyLifetime > 0 {
		return min(t.set.tokenLifetime, keyLifetime)
	}
	return t.set.tokenLifetime
}
