package usage

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyward-dev/keyward/internal/analytics"
)

// The Redis aggregation: every verifier replica adds its counts of each
// minute into one hash per minute, which expires after ActivityRetention,
// and the manager reads each closed minute once. Redis sums the replicas,
// so nothing grows with their number, and a minute's hash grows with the
// keys used in that minute only.
//
// ActivityRetention covers a manager that was away: minutes older than
// this are gone, and the baselines carry on from what remains.
const ActivityRetention = 26 * time.Hour

// AddActivity adds the counts of deltas (key ID → counts of one minute
// since the last call) into the minutes' hashes under prefix.
func AddActivity(ctx context.Context, client redis.Cmdable, prefix string, deltas map[string]analytics.Minute) error {
	return errors.New("not implemented")
}

// ReadActivity returns every key's counts of one closed minute, all
// replicas summed; a minute nobody wrote is an empty map.
func ReadActivity(ctx context.Context, client redis.Cmdable, prefix string, minute time.Time) (map[string]analytics.Minute, error) {
	return nil, errors.New("not implemented")
}
