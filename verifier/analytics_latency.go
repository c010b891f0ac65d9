package verifier

import (
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/keyward-dev/keyward/internal/usage"
)

// latencyBuckets: two buckets per power of two of nanoseconds, enough for
// any duration.
const latencyBuckets = 128

// latencyHistogram counts decision latencies in fixed buckets, growing
// with nothing, each bucket at most about 41% wider than its lower bound
// (a factor of 1.5 or 4/3): p50 and p99 are that precise.
type latencyHistogram struct {
	buckets [latencyBuckets]atomic.Uint64
}

// latencyBucket: bucket 2l holds [2^l, 1.5·2^l) ns, bucket 2l+1
// [1.5·2^l, 2^(l+1)) ns.
func latencyBucket(d time.Duration) int {
	ns := uint64(max(d, 1))
	l := bits.Len64(ns) - 1
	half := 0
	if l > 0 {
		half = int(ns>>(l-1)) & 1
	}
	return 2*l + half
}

// latencyUpper is the upper bound of a bucket, the value a quantile in it
// is reported as: never below the true latency.
func latencyUpper(b int) time.Duration {
	l := b / 2
	if b%2 == 0 {
		return time.Duration(uint64(1)<<l + uint64(1)<<l>>1)
	}
	return time.Duration(uint64(1) << (l + 1))
}

func (h *latencyHistogram) observe(d time.Duration) { h.buckets[latencyBucket(d)].Add(1) }

// take returns the decisions and quantiles since the last take, and starts
// counting afresh.
func (h *latencyHistogram) take() usage.Latency {
	var counts [latencyBuckets]uint64
	var total uint64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Swap(0)
		total += counts[i]
	}
	if total == 0 {
		return usage.Latency{}
	}
	return usage.Latency{Decisions: total, P50: quantile(&counts, total, 0.50), P99: quantile(&counts, total, 0.99)}
}

func quantile(counts *[latencyBuckets]uint64, total uint64, q float64) time.Duration {
	rank := uint64(q*float64(total-1)) + 1
	var seen uint64
	for i, n := range counts {
		if seen += n; seen >= rank {
			return latencyUpper(i)
		}
	}
	return latencyUpper(latencyBuckets - 1)
}
