package verifier

import (
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

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
// the admin's "delete the signature session".
func (t *Tokens) Evict(kid string) {
	t.replay.Evict(kid)
	t.skew.Evict(kid)
}

// tokenLifetime is how long a token signed by a key with the given
// lifetime may live.
func (t *Tokens) tokenLifetime(keyLifetime time.Duration) time.Duration {
	if keyLifetime > 0 {
		return min(t.set.tokenLifetime, keyLifetime)
	}
	return t.set.tokenLifetime
}
