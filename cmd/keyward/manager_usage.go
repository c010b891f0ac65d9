package main

import (
	"flag"
	"fmt"
	"math"
	"time"

	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/ratelimit"
	"github.com/keyward-dev/keyward/internal/redisconn"
	activity "github.com/keyward-dev/keyward/internal/usage"
	"github.com/keyward-dev/keyward/manager"
)

// usageFlags are the manager's --usage-* flags: the usage aggregator, the
// detectors' parameters, and the Redis of the Redis aggregation, which is
// the one the verifiers' rate limits use.
type usageFlags struct {
	interval    time.Duration
	closeAfter  time.Duration
	maxKeys     int
	maxWrites   int
	aggregation string
	params      analytics.Params
	// denialMinCount is params.DenialMinCount, which flag cannot bind.
	denialMinCount uint

	redisAddress, redisUsername, redisPasswordFile string
	redisDB                                        int
	redisPrefix                                    string
	redisTimeout                                   time.Duration
	redisTLS                                       bool
	redisTLSFiles                                  redisconn.TLSFiles
}

const (
	usageEmbedded = "embedded"
	usageRedis    = "redis"
)

func (f *usageFlags) bind(fs *flag.FlagSet) {
	def := analytics.DefaultParams()
	fs.DurationVar(&f.interval, "usage-interval", controllers.DefaultUsageInterval, "how often the usage aggregator reads the verifiers' activity and writes status.usage (at most one write per key per interval, none when nothing changed)")
	fs.DurationVar(&f.closeAfter, "usage-close-after", controllers.DefaultUsageCloseAfter, "how long after its end a minute of activity is read: longer than the verifiers' report interval, with a grace for a late report")
	fs.IntVar(&f.maxKeys, "usage-max-keys", controllers.DefaultUsageMaxKeys, "keys whose usage history the manager keeps in memory (about 3.3 KiB each)")
	fs.IntVar(&f.maxWrites, "usage-max-writes-per-pass", controllers.DefaultUsageMaxWritesPerPass, "status.usage writes of one pass of the usage aggregator at most, keys with verified requests first; the rest wait for the next passes")
	fs.StringVar(&f.aggregation, "usage-aggregation", usageEmbedded, `how the verifiers' activity reaches the manager: "embedded" (each replica's activity report, a ConfigMap in --verifier-namespace) or "redis" (per-minute hashes in the verifiers' rate-limit Redis, --usage-redis-*); the verifiers' analytics.aggregation must say the same`)
	fs.DurationVar(&f.params.WarmUp, "anomaly-warm-up", def.WarmUp, "how long a key must have been used before the Silence and Volume detectors may flag it")
	fs.DurationVar(&f.params.SilenceAfter, "anomaly-silence-after", def.SilenceAfter, "Silence: how long without a verified request flags a key whose baseline expected traffic")
	fs.Float64Var(&f.params.SilenceMinExpected, "anomaly-silence-min-expected", def.SilenceMinExpected, "Silence: the requests the baseline must have expected in that time")
	fs.Float64Var(&f.params.VolumeFactor, "anomaly-volume-factor", def.VolumeFactor, "Volume: how many times above or below its baseline an hour's volume is flagged")
	fs.Float64Var(&f.params.VolumeMinRequests, "anomaly-volume-min-requests", def.VolumeMinRequests, "Volume: the fewest requests an hour must be off its baseline by")
	fs.Float64Var(&f.params.DenialRate, "anomaly-denial-rate", def.DenialRate, "Denials: the share of a minute's requests that, denied, is a spike")
	fs.UintVar(&f.denialMinCount, "anomaly-denial-min-count", uint(def.DenialMinCount), "Denials: the fewest denials in a minute that may be a spike")
	fs.Float64Var(&f.params.TravelSpeedKmh, "anomaly-travel-speed-kmh", def.TravelSpeedKmh, "NewLocation: two countries seen closer in time than their distance at this speed is impossible travel")
	fs.DurationVar(&f.params.NewLocationWarmUp, "anomaly-new-location-warm-up", def.NewLocationWarmUp, "NewLocation: countries and networks seen in a key's first this long are its own")

	fs.StringVar(&f.redisAddress, "usage-redis-address", "", "host:port of the verifiers' rate-limit Redis (--usage-aggregation=redis)")
	fs.IntVar(&f.redisDB, "usage-redis-db", 0, "its database number")
	fs.StringVar(&f.redisUsername, "usage-redis-username", "", "its ACL user; empty for the default user")
	fs.StringVar(&f.redisPasswordFile, "usage-redis-password-file", "", "file holding its password; empty for none")
	fs.StringVar(&f.redisPrefix, "usage-redis-prefix", ratelimit.DefaultRedisPrefix, "the prefix of the verifiers' rateLimits.redis.prefix, under which they keep their activity")
	fs.DurationVar(&f.redisTimeout, "usage-redis-timeout", time.Second, "bound of each round-trip to Redis")
	fs.BoolVar(&f.redisTLS, "usage-redis-tls", false, "connect to Redis over TLS only (its tls-port); the server's certificate is always verified")
	fs.StringVar(&f.redisTLSFiles.CAFile, "usage-redis-ca-file", "", "CAs that may issue Redis's certificate; empty for the system's roots")
	fs.StringVar(&f.redisTLSFiles.CertFile, "usage-redis-cert-file", "", "client certificate, for a Redis that asks for one")
	fs.StringVar(&f.redisTLSFiles.KeyFile, "usage-redis-key-file", "", "the client certificate's key")
	fs.StringVar(&f.redisTLSFiles.ServerName, "usage-redis-server-name", "", "name Redis's certificate must carry; empty for the host of --usage-redis-address")
}

// options checks the flags and connects what they name. The Redis client
// is created, not dialled: the aggregator's first pass says whether it
// answers.
func (f *usageFlags) options() (manager.UsageOptions, error) {
	o := manager.UsageOptions{Interval: f.interval, CloseAfter: f.closeAfter, MaxKeys: f.maxKeys, MaxWritesPerPass: f.maxWrites, Params: f.params}
	if f.denialMinCount > math.MaxUint32 {
		return o, fmt.Errorf("--anomaly-denial-min-count %d is too large", f.denialMinCount)
	}
	o.Params.DenialMinCount = uint32(f.denialMinCount)
	if f.interval < 10*time.Second {
		return o, fmt.Errorf("--usage-interval must be at least 10s, not %s", f.interval)
	}
	if f.closeAfter <= 0 {
		return o, fmt.Errorf("--usage-close-after must be positive, not %s", f.closeAfter)
	}
	if f.maxKeys <= 0 {
		return o, fmt.Errorf("--usage-max-keys must be positive, not %d", f.maxKeys)
	}
	if f.maxWrites <= 0 {
		return o, fmt.Errorf("--usage-max-writes-per-pass must be positive, not %d", f.maxWrites)
	}
	switch f.aggregation {
	case usageEmbedded:
		if f.redisAddress != "" {
			return o, fmt.Errorf("--usage-redis-address is set but --usage-aggregation is %q: say --usage-aggregation=redis", f.aggregation)
		}
		return o, nil
	case usageRedis:
	default:
		return o, fmt.Errorf("--usage-aggregation must be %q or %q, not %q", usageEmbedded, usageRedis, f.aggregation)
	}
	if f.redisAddress == "" {
		return o, fmt.Errorf("--usage-aggregation=redis needs --usage-redis-address")
	}
	// A minute is read CloseAfter after it ends, by a pass up to an
	// interval later: Redis must still hold it then, with a minute to
	// spare for a slow pass.
	if late := f.closeAfter + f.interval + 2*time.Minute; late > activity.ActivityRetention {
		return o, fmt.Errorf("--usage-close-after (%s) and --usage-interval (%s) read a minute up to %s after it began, but Redis keeps the activity only %s: lower them",
			f.closeAfter, f.interval, late-time.Minute, activity.ActivityRetention)
	}
	if f.redisPrefix == "" {
		return o, fmt.Errorf("--usage-redis-prefix must not be empty")
	}
	conn := redisconn.Config{Address: f.redisAddress, DB: f.redisDB, Username: f.redisUsername, Timeout: f.redisTimeout}
	if f.redisPasswordFile != "" {
		var err error
		if conn.Password, err = redisconn.ReadPassword(f.redisPasswordFile); err != nil {
			return o, fmt.Errorf("--usage-redis-password-file: %w", err)
		}
	}
	if f.redisTLS || f.redisTLSFiles != (redisconn.TLSFiles{}) {
		conf, err := redisconn.LoadTLS(f.redisTLSFiles)
		if err != nil {
			return o, fmt.Errorf("--usage-redis TLS files: %w", err)
		}
		conn.TLS = conf
	}
	o.Redis, o.RedisPrefix = redisconn.NewClient(conn), f.redisPrefix
	return o, nil
}
