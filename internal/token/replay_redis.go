package token

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyward-dev/keyward/internal/redisconn"
)

// ErrReplayStoreUnavailable is wrapped by the errors of a SharedReplayCache
// that could not reach Redis. The assertion must be refused: whether its
// jti was used elsewhere cannot be known.
var ErrReplayStoreUnavailable = errors.New("shared replay cache unavailable")

// DefaultReplayPrefix begins the name of every jti set a SharedReplayCache
// keeps in Redis.
const DefaultReplayPrefix = "keyward:jti:"

// replayScript records one jti in the sorted set of its client key, all at
// once on the server: members are SHA-256 digests of jti values, scores
// the instant (Unix milliseconds) after which the assertion can no longer
// pass validation. It answers 0 (new, recorded), 1 (seen before) or 2
// (the client key holds its whole share).
var replayScript = redisconn.NewScript(`
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 2
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
local ttl = tonumber(ARGV[3]) - now
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 0
`)

// SharedReplayCache is a ReplayCache kept in Redis, so that every verifier
// replica naming the same Redis accepts a jti once, and a restarted
// replica still knows the jti values used before it started.
//
// It keeps the in-memory cache's rules: a jti is remembered until its
// assertion could no longer pass validation, and each client key holds at
// most PerClient unexpired jti values (refused beyond: ErrClientReplayLimit),
// so Redis holds at most PerClient entries per client key, each gone once
// its assertion expired. Nothing is kept in this process.
//
// Time is the caller's now. An entry is kept a Leeway longer than its
// assertion is valid, so replicas whose clocks differ by less than the
// Leeway never let one replica forget a jti another could still accept.
type SharedReplayCache struct {
	client    redis.Scripter
	prefix    string
	perClient int
	leeway    time.Duration
}

// NewSharedReplayCache keeps jti sets through client, named prefix (empty:
// DefaultReplayPrefix) followed by the client key. leeway must be the
// Validator's. How long a call may wait is the client's timeouts.
func NewSharedReplayCache(client redis.Scripter, prefix string, perClient int, leeway time.Duration) *SharedReplayCache {
	if prefix == "" {
		prefix = DefaultReplayPrefix
	}
	return &SharedReplayCache{client: client, prefix: prefix, perClient: max(perClient, 1), leeway: max(leeway, 0)}
}

// SeenBefore records the assertion and reports whether its jti was already
// used by the same client key, on any replica. A non-nil error means the
// assertion must be refused even though it was not seen.
func (r *SharedReplayCache) SeenBefore(ctx context.Context, clientKeyID, jti string, exp, now time.Time) (bool, error) {
	if jti == "" {
		return false, ErrMissingJTI
	}
	until := exp.Add(r.leeway)
	if !now.Before(until) {
		return false, ErrAssertionExpired
	}
	digest := sha256.Sum256([]byte(jti))
	res, err := replayScript.Run(ctx, r.client, []string{r.prefix + clientKeyID},
		string(digest[:]), now.UnixMilli(), until.Add(r.leeway).UnixMilli(), r.perClient).Int64()
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrReplayStoreUnavailable, err)
	}
	switch res {
	case 0:
		return false, nil
	case 1:
		return true, nil
	case 2:
		return false, ErrClientReplayLimit
	}
	return false, fmt.Errorf("%w: unexpected answer %d", ErrReplayStoreUnavailable, res)
}
