package redisconn

import (
	"crypto/fips140"

	"github.com/redis/go-redis/v9"
)

// NewScript is redis.NewScript for every Lua script keyward runs. go-redis
// names a script by the SHA-1 of its source, as Redis's EVALSHA requires;
// that digest identifies text keyward wrote and protects nothing, so it is
// computed outside strict FIPS enforcement (GODEBUG=fips140=only), which
// would otherwise refuse SHA-1 and stop the program where the script is
// declared.
func NewScript(src string) *redis.Script {
	var s *redis.Script
	fips140.WithoutEnforcement(func() { s = redis.NewScript(src) })
	return s
}
