package verifier

import (
	"fmt"

	"github.com/keyward-dev/keyward/internal/ratelimit"
)

// AnalyticsConfig is the verifier's part of usage analytics: counting each
// key's use per minute for status.usage and the anomaly detectors
// (docs/analytics.md).
type AnalyticsConfig struct {
	// Enabled counts each key's use (default true). Off, status.usage
	// stays empty and no detector sees this replica's traffic.
	Enabled *bool `json:"enabled,omitempty"`
	// Aggregation is how the replicas' counts reach the manager:
	// "embedded" (the default: each replica writes a ConfigMap of its
	// busiest keys' recent minutes) or "redis" (each replica adds its
	// counts into per-minute hashes in the rate limits' Redis, for
	// installations with many replicas or more keys in use than one
	// ConfigMap can carry). Redis needs rateLimits.store: redis.
	Aggregation string `json:"aggregation,omitempty"`
	// MaxKeys caps the keys counted at once (default 100,000); keys idle
	// for the minutes a report carries free their place.
	MaxKeys int `json:"maxKeys,omitempty"`
}

// Aggregations of AnalyticsConfig.
const (
	AggregationEmbedded = "embedded"
	AggregationRedis    = "redis"
)

const defaultMaxActivityKeys = 100_000

// analyticsPlan is AnalyticsConfig checked, with defaults applied.
type analyticsPlan struct {
	enabled     bool
	aggregation string
	maxKeys     int
}

func (c AnalyticsConfig) compile(limits RateLimits) (analyticsPlan, error) {
	p := analyticsPlan{enabled: c.Enabled == nil || *c.Enabled, aggregation: c.Aggregation, maxKeys: c.MaxKeys}
	switch p.aggregation {
	case "":
		p.aggregation = AggregationEmbedded
	case AggregationEmbedded:
	case AggregationRedis:
		if limits.Store != storeRedis {
			return p, fmt.Errorf("analytics.aggregation: redis uses the rate limits' Redis, but rateLimits.store is %q; set rateLimits.store: redis and rateLimits.redis, or use aggregation: embedded", limits.Store)
		}
	default:
		return p, fmt.Errorf("analytics.aggregation: %q is not embedded or redis", c.Aggregation)
	}
	switch {
	case p.maxKeys == 0:
		p.maxKeys = defaultMaxActivityKeys
	case p.maxKeys < 0:
		return p, fmt.Errorf("analytics.maxKeys must be positive, not %d", p.maxKeys)
	}
	return p, nil
}

// activityPrefix is the Redis prefix of the activity hashes: the counters'
// own, so that one Redis setting names everything the verifier keeps there.
func activityPrefix(counterPrefix string) string {
	if counterPrefix == "" {
		return ratelimit.DefaultRedisPrefix
	}
	return counterPrefix
}
