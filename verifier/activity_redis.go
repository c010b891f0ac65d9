package verifier

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/usage"
)

// activityFlush writes what this replica counted of each key's open
// minutes into the rate limits' Redis (the redis aggregation): whole
// counts, not deltas, so that a flush that timed out after Redis applied
// it is simply written again. It writes only the minutes that changed
// since the last flush that succeeded, and remembers no more per key than
// each minute's request count when written (counts only grow within a
// minute, and every count grows with the requests).
type activityFlush struct {
	v       *Verifier
	prefix  string
	replica string
	// written is, per key, the request count of each minute last written.
	written map[string]keyWritten
	// pass numbers the flushes, to find the keys a snapshot left out.
	pass    uint32
	failing bool
	log     logr.Logger
}

type keyWritten struct {
	marks writtenMinutes
	pass  uint32
}

type writtenMinutes [usage.ActivityMinutes]writtenMark

// writtenMark is a minute (Unix minutes) and its request count.
type writtenMark struct{ minute, requests uint32 }

// RunActivityFlush writes this replica's activity into Redis every
// interval until ctx ends, when the analytics aggregation is redis. replica
// names this replica's fields (a DNS label, lower-cased here as the
// ConfigMaps' names are). A failed flush is logged once per run of
// failures; the next writes its minutes again.
func (v *Verifier) RunActivityFlush(ctx context.Context, replica string, interval time.Duration, clk clock.WithTicker, log logr.Logger) error {
	if v.ActivityAggregation() != AggregationRedis || v.limits.redis == nil {
		return nil
	}
	f, err := newActivityFlush(v, replica, log)
	if err != nil {
		return err
	}
	everyInterval(ctx, clk, interval, f.flush)
	return nil
}

func newActivityFlush(v *Verifier, replica string, log logr.Logger) (*activityFlush, error) {
	replica = strings.ToLower(replica)
	if err := usage.ValidateReplica(replica); err != nil {
		return nil, err
	}
	return &activityFlush{v: v, prefix: activityPrefix(v.limits.redisPrefix), replica: replica,
		written: map[string]keyWritten{}, log: log}, nil
}

func (f *activityFlush) flush(ctx context.Context) {
	f.pass++
	changed := map[string][]analytics.Minute{}
	pending := map[string]writtenMinutes{}
	for _, km := range f.v.activity.snapshot(f.v.clock.Now()) {
		w := f.written[km.id]
		var marks writtenMinutes
		var dirty []analytics.Minute
		for i, m := range km.minutes {
			marks[i] = writtenMark{uint32(unixMinute(m.Start)), uint32(min(m.Requests(), math.MaxUint32))}
			if !slices.Contains(w.marks[:], marks[i]) {
				dirty = append(dirty, m)
			}
		}
		w.pass = f.pass
		if len(dirty) > 0 {
			changed[km.id] = dirty
			pending[km.id] = marks
		}
		f.written[km.id] = w
	}
	err := usage.WriteActivity(ctx, f.v.limits.redis, f.prefix, f.replica, changed)
	for id, w := range f.written {
		switch {
		case w.pass != f.pass:
			// Out of the window: what was not written by now is lost
			// with it, as a replica's counts are when it stops.
			delete(f.written, id)
		case err == nil && pending[id] != (writtenMinutes{}):
			w.marks = pending[id]
			f.written[id] = w
		}
	}
	switch {
	case err != nil && ctx.Err() == nil:
		if !f.failing {
			f.log.Error(err, "writing activity to Redis failed; retrying every interval")
		}
		f.failing = true
	case err == nil && f.failing:
		f.log.Info("writing activity to Redis again")
		f.failing = false
	}
}
