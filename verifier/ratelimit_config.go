package verifier

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/redisconn"
	"github.com/keyward-dev/keyward/internal/token"
)

// RateLimits configures where the verifier keeps rate-limit counters and
// the limiter in front of key hashing. Keys' own limits come from their
// records (APIKey spec.rateLimit).
type RateLimits struct {
	// Store is "memory" (the default: counters in this process, so each
	// replica enforces every limit on its own) or "redis" (shared by every
	// replica that names the same Redis).
	Store string `json:"store,omitempty"`
	// MaxBuckets caps the counters held in memory (default 100,000): the
	// memory store, and the local store a Redis store falls back to.
	MaxBuckets int `json:"maxBuckets,omitempty"`
	// Redis is the shared store's server; required when Store is "redis".
	Redis *RedisConfig `json:"redis,omitempty"`
	// PreAuth limits the verifications that need hashing.
	PreAuth PreAuthLimits `json:"preAuth,omitzero"`
}

// RedisConfig is how to reach Redis and what to do when it fails.
type RedisConfig struct {
	// Address is host:port.
	Address string `json:"address"`
	// DB is the database number (default 0).
	DB int `json:"db,omitempty"`
	// Username and PasswordFile authenticate (ACL or requirepass); the
	// password is read from the file, never from this configuration.
	Username     string `json:"username,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty"`
	// TLS, when set, connects over TLS only (Redis's tls-port).
	TLS *RedisTLS `json:"tls,omitempty"`
	// Prefix begins every counter's name (default "keyward:rl:"), and,
	// followed by "jti:", the client assertion replay sets (default
	// "keyward:jti:").
	Prefix string `json:"prefix,omitempty"`
	// TimeoutMilliseconds bounds each round-trip (default 100).
	TimeoutMilliseconds int `json:"timeoutMilliseconds,omitempty"`
	// Fallback is what happens to limits (windows, token buckets) while
	// Redis fails: "FailOpenLocal" (the default) enforces them in this
	// replica's memory, so that together the replicas allow up to the
	// limit times their number; "Deny" refuses every request of a key that
	// has limits (Indeterminate, rate_limit_unavailable).
	Fallback ratelimit.FallbackPolicy `json:"fallback,omitempty"`
	// QuotaFallback is what happens to quotas while Redis fails: "Deny"
	// (the default) refuses every request of a key with a quota
	// (Indeterminate, rate_limit_unavailable), since a replica counting
	// on its own would hand out the day's or month's budget again;
	// "LocalShare" lets each replica spend at most 1/Replicas of what
	// Redis last told it was left, and charges it to Redis afterwards.
	QuotaFallback ratelimit.QuotaFallback `json:"quotaFallback,omitempty"`
	// Replicas is, for QuotaLocalShare, the most verifier replicas that
	// share this Redis at once (count a rollout's surge).
	Replicas int `json:"replicas,omitempty"`
}

// RedisTLS names the PEM files of the TLS connection to Redis, usually
// from the Secret the manager mounts (--verifier-redis-secret). They are
// read once, at start. The server's certificate is always verified.
type RedisTLS struct {
	// CAFile holds the CAs that may issue Redis's certificate; empty for
	// the system's roots.
	CAFile string `json:"caFile,omitempty"`
	// CertFile and KeyFile are the client certificate, for a Redis that
	// asks for one (tls-auth-clients); both or neither.
	CertFile string `json:"certFile,omitempty"`
	KeyFile  string `json:"keyFile,omitempty"`
	// ServerName is the name Redis's certificate must carry; empty for
	// the host of address.
	ServerName string `json:"serverName,omitempty"`
}

// PreAuthLimits limit verifications that are not answered from the
// verified-key cache, per client address (per /64 for IPv6) and per key
// ID, before any PBKDF2 runs. A known key presented again is answered from
// the cache and never counts.
type PreAuthLimits struct {
	// PerSource defaults to 10 per second with a burst of 20.
	PerSource *RateSpec `json:"perSource,omitempty"`
	// PerKeyID defaults to 20 per second with a burst of 40.
	PerKeyID *RateSpec `json:"perKeyID,omitempty"`
	// MaxBuckets caps the counters (default 100,000); their periods are
	// short, so idle ones free their place within seconds.
	MaxBuckets int `json:"maxBuckets,omitempty"`
	// Disabled turns the limiter off (the failure backoff stays).
	Disabled bool `json:"disabled,omitempty"`
}

// RateSpec is a token bucket: Limit per PeriodSeconds, Burst at once.
type RateSpec struct {
	Limit         int64 `json:"limit"`
	PeriodSeconds int64 `json:"periodSeconds"`
	Burst         int64 `json:"burst,omitempty"`
}

func (s RateSpec) limit(name string) ratelimit.Limit {
	return ratelimit.Limit{Name: name, Strategy: ratelimit.TokenBucket, Limit: s.Limit, Period: time.Duration(s.PeriodSeconds) * time.Second, Burst: s.Burst}
}

const (
	storeMemory = "memory"
	storeRedis  = "redis"
)

// rateLimitPlan is RateLimits checked, with defaults applied.
type rateLimitPlan struct {
	RateLimits
	perSource, perKeyID ratelimit.Limit
	// conn is how to reach the store with store: redis.
	conn redisconn.Config
}

func (c RateLimits) compile() (rateLimitPlan, error) {
	p := rateLimitPlan{RateLimits: c}
	if p.Store == "" {
		p.Store = storeMemory
	}
	if p.MaxBuckets == 0 {
		p.MaxBuckets = 100_000
	}
	if p.PreAuth.MaxBuckets == 0 {
		p.PreAuth.MaxBuckets = 100_000
	}
	if p.MaxBuckets < 0 || p.PreAuth.MaxBuckets < 0 {
		return p, fmt.Errorf("rateLimits: maxBuckets must be positive")
	}
	src, kid := RateSpec{Limit: 10, PeriodSeconds: 1, Burst: 20}, RateSpec{Limit: 20, PeriodSeconds: 1, Burst: 40}
	if c.PreAuth.PerSource != nil {
		src = *c.PreAuth.PerSource
	}
	if c.PreAuth.PerKeyID != nil {
		kid = *c.PreAuth.PerKeyID
	}
	p.perSource, p.perKeyID = src.limit("pre-auth-source"), kid.limit("pre-auth-key")
	for name, l := range map[string]ratelimit.Limit{"perSource": p.perSource, "perKeyID": p.perKeyID} {
		if err := l.Validate(); err != nil {
			return p, fmt.Errorf("rateLimits.preAuth.%s: %s", name, limitErrorText(err))
		}
	}
	switch p.Store {
	case storeMemory:
		if p.Redis != nil {
			return p, fmt.Errorf(`rateLimits.redis is set but rateLimits.store is %q; set store: redis to use it`, p.Store)
		}
	case storeRedis:
		if p.Redis == nil || p.Redis.Address == "" {
			return p, fmt.Errorf("rateLimits.redis.address is required with store: redis")
		}
		r := *p.Redis
		switch r.Fallback {
		case "":
			r.Fallback = ratelimit.FailOpenLocal
		case ratelimit.FailOpenLocal, ratelimit.Deny:
		default:
			return p, fmt.Errorf("rateLimits.redis.fallback: %q is not FailOpenLocal or Deny", r.Fallback)
		}
		switch r.QuotaFallback {
		case "":
			r.QuotaFallback = ratelimit.QuotaDeny
		case ratelimit.QuotaDeny:
		case ratelimit.QuotaLocalShare:
			if r.Replicas < 1 {
				return p, fmt.Errorf("rateLimits.redis.replicas: quotaFallback LocalShare needs the number of verifier replicas sharing Redis (at least 1), not %d", r.Replicas)
			}
		default:
			return p, fmt.Errorf("rateLimits.redis.quotaFallback: %q is not Deny or LocalShare", r.QuotaFallback)
		}
		if r.Replicas < 0 {
			return p, fmt.Errorf("rateLimits.redis.replicas must not be negative")
		}
		conn, err := r.connection()
		if err != nil {
			return p, err
		}
		p.Redis, p.conn = &r, conn
	default:
		return p, fmt.Errorf("rateLimits.store: %q is not memory or redis", p.Store)
	}
	return p, nil
}

// connection reads the password and TLS files.
func (r RedisConfig) connection() (redisconn.Config, error) {
	c := redisconn.Config{Address: r.Address, DB: r.DB, Username: r.Username, Timeout: 100 * time.Millisecond}
	if r.TimeoutMilliseconds < 0 {
		return c, fmt.Errorf("rateLimits.redis.timeoutMilliseconds must be positive")
	} else if r.TimeoutMilliseconds > 0 {
		c.Timeout = time.Duration(r.TimeoutMilliseconds) * time.Millisecond
	}
	if r.PasswordFile != "" {
		b, err := os.ReadFile(r.PasswordFile)
		if err != nil {
			return c, fmt.Errorf("rateLimits.redis.passwordFile: %w", err)
		}
		if c.Password = strings.TrimRight(string(b), "\r\n"); c.Password == "" {
			return c, fmt.Errorf("rateLimits.redis.passwordFile: %s is empty", r.PasswordFile)
		}
	}
	if r.TLS != nil {
		conf, err := redisconn.LoadTLS(redisconn.TLSFiles{CAFile: r.TLS.CAFile, CertFile: r.TLS.CertFile, KeyFile: r.TLS.KeyFile, ServerName: r.TLS.ServerName})
		if err != nil {
			return c, fmt.Errorf("rateLimits.redis.tls.%w", err)
		}
		c.TLS = conf
	}
	return c, nil
}

func limitErrorText(err error) string {
	if le, ok := err.(*ratelimit.LimitError); ok {
		return le.Field + " " + le.Reason
	}
	return err.Error()
}

// replayPrefix names the assertion replay sets beside the counters.
func replayPrefix(counterPrefix string) string {
	if counterPrefix == "" {
		return token.DefaultReplayPrefix
	}
	return counterPrefix + "jti:"
}
