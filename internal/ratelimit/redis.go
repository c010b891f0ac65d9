package ratelimit

import (
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyward-dev/keyward/internal/redisconn"
)

// DefaultRedisPrefix begins the name of every bucket a RedisStore keeps, so
// that keyward can share a Redis with other programs.
const DefaultRedisPrefix = "keyward:rl:"

// redisExpirySlack keeps a bucket in Redis a little longer than the caller's
// clock says its state lasts: replicas' clocks differ slightly, and a bucket
// that expired early would hand out its limit a second time.
const redisExpirySlack = time.Second

//go:embed redis.lua
var redisTakeAllSource string

// One script for every call: EVALSHA, and EVAL when the server does not
// have it (after a restart or SCRIPT FLUSH).
var redisTakeAll = redisconn.NewScript(redisTakeAllSource)

// RedisOptions configures a RedisStore.
type RedisOptions struct {
	// Prefix begins every bucket's name; empty means DefaultRedisPrefix.
	Prefix string
}

// RedisStore keeps buckets in Redis so that verifier replicas share one
// limit. It decides exactly as a MemoryStore does: each TakeAll is one Lua
// script, atomic on the server, that applies the same rules to the same
// state and spends only when every bucket has room; the Results are then
// computed in Go from the state the script read.
//
// Time is the caller's now, not the Redis server's clock, so that calendar
// quotas follow the caller's time zone and tests can drive the clock. The
// replicas' clocks must therefore agree (NTP): one that runs ahead refills
// token buckets and opens windows early for everyone. A lagging clock
// cannot undo what a leading one did, since no rule moves a bucket's time
// backwards.
//
// All buckets of a call go to one script, so on a Redis Cluster the
// caller's bucket keys must share a hash slot (a {hash tag}).
//
// Errors from Redis wrap ErrStoreUnavailable; errors about a request are
// the ones a MemoryStore returns.
type RedisStore struct {
	client redis.Scripter
	prefix string
	slack  time.Duration
}

// NewRedisStore returns a store that keeps its buckets through client
// (a *redis.Client, or a failover client for Sentinel). How long a call may
// wait for Redis is the client's timeouts and retries.
func NewRedisStore(client redis.Scripter, opts RedisOptions) *RedisStore {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &RedisStore{client: client, prefix: prefix, slack: redisExpirySlack}
}

// redisBucket is one bucket of a call: the requests on it are merged, as
// the script spends their total at once.
type redisBucket struct {
	name  string
	limit *Limit // the first request's
	total int64
	cell  cell
	ring  [SlidingSlots]int64
}

// TakeAll implements Store.
func (s *RedisStore) TakeAll(ctx context.Context, now time.Time, reqs []Request) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, err := unixNanos(now)
	if err != nil {
		return nil, err
	}
	buckets := make([]redisBucket, 0, len(reqs))
	of := make([]int, len(reqs)) // request → bucket
	cum := make([]int64, len(reqs))
	for i := range reqs {
		r := &reqs[i]
		if err := r.Limit.Validate(); err != nil {
			return nil, err
		}
		if err := r.validate(); err != nil {
			return nil, err
		}
		name := s.bucketName(r)
		b := len(buckets)
		for j := range buckets {
			if buckets[j].name == name {
				b = j
				break
			}
		}
		if b == len(buckets) {
			buckets = append(buckets, redisBucket{name: name, limit: &r.Limit})
		}
		buckets[b].total += r.Cost
		if buckets[b].total > r.Limit.Capacity() {
			return nil, fmt.Errorf("limit %q: costs %d in one call over capacity %d: %w", r.Limit.Name, buckets[b].total, r.Limit.Capacity(), ErrCostExceedsCapacity)
		}
		of[i], cum[i] = b, buckets[b].total
	}
	if len(buckets) == 0 {
		return nil, nil
	}

	keys := make([]string, len(buckets))
	args := make([]any, 0, 2+8*len(buckets))
	args = append(args, strconv.FormatInt(t, 10), s.slack.Milliseconds())
	for i := range buckets {
		keys[i] = buckets[i].name
		args = append(args, redisArgs(buckets[i].limit, buckets[i].total, t)...)
	}
	out, err := redisTakeAll.Run(ctx, s.client, keys, args...).StringSlice()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: redis: %w", ErrStoreUnavailable, err)
	}
	if len(out) != 1+5*len(buckets) {
		return nil, fmt.Errorf("redis script answered %d values for %d buckets", len(out), len(buckets))
	}
	spent := out[0] == "1"

	// Bring each bucket to now with the same code as the script, from the
	// state the script read.
	all := true
	for i := range buckets {
		b := &buckets[i]
		if err := b.parse(out[1+5*i : 1+5*i+5]); err != nil {
			return nil, fmt.Errorf("redis bucket %s: %w", b.name, err)
		}
		advance(b.limit, &b.cell, &b.ring, t)
		all = all && b.total <= available(b.limit, &b.cell, &b.ring, t)
	}
	if all != spent {
		return nil, fmt.Errorf("redis script and Go disagree on a request (script spent: %t)", spent)
	}

	results := make([]Result, len(reqs))
	if !spent {
		for i := range reqs {
			b := &buckets[of[i]]
			l := &reqs[i].Limit
			fits := cum[i] <= available(l, &b.cell, &b.ring, t)
			results[i] = result(l, &b.cell, &b.ring, t, fits, cum[i])
		}
		return results, nil
	}
	for i := range buckets {
		b := &buckets[i]
		consume(b.limit, &b.cell, &b.ring, b.total)
	}
	for i := range reqs {
		b := &buckets[of[i]]
		results[i] = result(&reqs[i].Limit, &b.cell, &b.ring, t, true, 0)
	}
	return results, nil
}

// bucketName tells buckets apart by every field of the limit that gives
// their state its meaning, as a MemoryStore does, so that a changed limit
// applies to what was spent and a changed period starts afresh. The key
// stays readable in front, for operators and {hash tags}; the limit's
// fields are hashed behind it, a fixed hash so that every replica agrees.
func (s *RedisStore) bucketName(r *Request) string {
	h := fnv.New64a()
	field := func(v string) {
		_, _ = h.Write([]byte(v))
		_, _ = h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(v))))
	}
	field(r.Limit.Name)
	field(string(r.Limit.Strategy))
	field(strconv.FormatInt(int64(r.Limit.Period), 10))
	if r.Limit.Strategy == Quota {
		field(string(r.Limit.Refill))
		loc := r.Limit.Location
		if loc == nil {
			loc = time.UTC
		}
		field(loc.String())
	}
	return s.prefix + r.Key + ":" + strconv.FormatUint(h.Sum64(), 16)
}

// redisArgs is what the script needs of one bucket: the times that depend
// only on now and the limit are computed here, calendar ones above all,
// since Lua knows no time zones.
func redisArgs(l *Limit, total, now int64) []any {
	itoa := func(v int64) string { return strconv.FormatInt(v, 10) }
	p := int64(l.Period)
	switch l.Strategy {
	case FixedWindow:
		return []any{"F", total, l.Capacity(), itoa(p), itoa(now - now%p), "0", "0", "0"}
	case Quota:
		start, end := quotaPeriod(l.Refill, l.Location, now)
		return []any{"Q", total, l.Capacity(), "0", itoa(start), itoa(end), "0", "0"}
	case TokenBucket:
		return []any{"T", total, l.Capacity(), itoa(p), itoa(l.Limit), "0", "0", "0"}
	default: // SlidingWindow
		slot := slotLength(l.Period)
		past := "-"
		if now-p >= 0 {
			past = itoa((now - p) / slot)
		}
		return []any{"S", total, l.Capacity(), itoa(p), itoa(now / slot), past, itoa(slot), itoa(now % slot)}
	}
}

// parse reads the fields s, e, c, f, r the script returned.
func (b *redisBucket) parse(f []string) error {
	num := func(s string) (int64, error) {
		if s == "" {
			return 0, nil
		}
		return strconv.ParseInt(s, 10, 64)
	}
	var err error
	dst := []*int64{&b.cell.start, &b.cell.end, &b.cell.count, &b.cell.frac}
	for i, p := range dst {
		if *p, err = num(f[i]); err != nil {
			return err
		}
	}
	if f[4] == "" {
		return nil
	}
	slots := strings.Split(f[4], ",")
	if len(slots) != SlidingSlots {
		return errors.New("sliding window with " + strconv.Itoa(len(slots)) + " slots")
	}
	for i, v := range slots {
		if b.ring[i], err = num(v); err != nil {
			return err
		}
	}
	return nil
}
