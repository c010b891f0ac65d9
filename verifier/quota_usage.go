package verifier

import (
	"slices"
	"sync"
	"time"
)

// maxTrackedQuotas bounds the keys whose quota usage is remembered for
// reporting; past it, the usage of an arbitrary key is forgotten (and
// reported again after its next request).
const maxTrackedQuotas = 100_000

type quotaSeen struct {
	usage QuotaUsage
	at    time.Time
}

// quotaTracker remembers the last quota result of each key.
type quotaTracker struct {
	mu  sync.Mutex
	max int
	m   map[string]quotaSeen
}

func newQuotaTracker(max int) quotaTracker {
	return quotaTracker{max: max, m: map[string]quotaSeen{}}
}

func (q *quotaTracker) seen(keyID string, used, remaining int64, resetAt, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.m[keyID]; !ok && len(q.m) >= q.max {
		for k := range q.m {
			delete(q.m, k)
			break
		}
	}
	q.m[keyID] = quotaSeen{usage: QuotaUsage{KeyID: keyID, Used: used, Remaining: remaining, ResetAt: resetAt}, at: now}
}

// QuotaUsage returns the quota usage this verifier has seen, the most
// recently used keys first.
func (v *Verifier) QuotaUsage() []QuotaUsage {
	q := &v.limits.quotas
	q.mu.Lock()
	seen := make([]quotaSeen, 0, len(q.m))
	for _, s := range q.m {
		seen = append(seen, s)
	}
	q.mu.Unlock()
	slices.SortFunc(seen, func(a, b quotaSeen) int { return b.at.Compare(a.at) })
	out := make([]QuotaUsage, len(seen))
	for i, s := range seen {
		out[i] = s.usage
	}
	return out
}
