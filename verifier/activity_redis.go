package verifier

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/usage"
)

// activityFlush adds what this replica counted since its last flush into
// the rate limits' Redis (the redis aggregation). It remembers what it
// added of each key's open minutes, and adds only the difference: counts
// only grow within a minute, so the difference is what is new.
type activityFlush struct {
	v      *Verifier
	prefix string
	// added is what was added of each (key, minute) still in the window.
	added   map[flushedMinute]analytics.Minute
	failing bool
	log     logr.Logger
}

type flushedMinute struct {
	keyID  string
	minute int64
}

// RunActivityFlush adds this replica's activity into Redis every interval
// until ctx ends, when the analytics aggregation is redis. A failed flush
// is logged once per run of failures; its counts are added by the next.
func (v *Verifier) RunActivityFlush(ctx context.Context, interval time.Duration, clk clock.WithTicker, log logr.Logger) {
	if v.ActivityAggregation() != AggregationRedis || v.limits.redis == nil {
		return
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	if interval <= 0 {
		interval = DefaultUsageInterval
	}
	f := newActivityFlush(v, log)
	ticker := clk.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
			f.flush(ctx)
		}
	}
}

func newActivityFlush(v *Verifier, log logr.Logger) *activityFlush {
	return &activityFlush{v: v, prefix: activityPrefix(v.limits.redisPrefix), added: map[flushedMinute]analytics.Minute{}, log: log}
}

func (f *activityFlush) flush(ctx context.Context) {
	now := f.v.clock.Now()
	byMinute := map[int64]map[string]analytics.Minute{}
	current := map[flushedMinute]analytics.Minute{}
	for _, km := range f.v.activity.snapshot(now) {
		for _, m := range km.minutes {
			at := flushedMinute{km.id, unixMinute(m.Start)}
			current[at] = m
			d, ok := minuteDelta(m, f.added[at])
			if !ok {
				continue
			}
			if byMinute[at.minute] == nil {
				byMinute[at.minute] = map[string]analytics.Minute{}
			}
			byMinute[at.minute][km.id] = d
		}
	}
	var failed error
	for minute, deltas := range byMinute {
		if err := usage.AddActivity(ctx, f.v.limits.redis, f.prefix, deltas); err != nil {
			failed = err
			continue
		}
		for id := range deltas {
			at := flushedMinute{id, minute}
			f.added[at] = current[at]
		}
	}
	// Minutes out of the window are done: what was not added by now is
	// lost with them, as a replica's counts are when it stops.
	for at := range f.added {
		if _, ok := current[at]; !ok {
			delete(f.added, at)
		}
	}
	switch {
	case failed != nil && ctx.Err() == nil:
		if !f.failing {
			f.log.Error(failed, "adding activity to Redis failed; retrying every interval")
		}
		f.failing = true
	case failed == nil && f.failing:
		f.log.Info("adding activity to Redis again")
		f.failing = false
	}
}

// minuteDelta is what cur counts beyond added, the same minute of one key
// as last added; false when nothing is new. A country or network the
// space-saving top-k replaced since is counted from its new count.
func minuteDelta(cur, added analytics.Minute) (analytics.Minute, bool) {
	d := analytics.Minute{
		Start:             cur.Start,
		Permits:           cur.Permits - min(added.Permits, cur.Permits),
		VerifiedDenials:   cur.VerifiedDenials - min(added.VerifiedDenials, cur.VerifiedDenials),
		OtherDenials:      cur.OtherDenials - min(added.OtherDenials, cur.OtherDenials),
		UnverifiedDenials: cur.UnverifiedDenials - min(added.UnverifiedDenials, cur.UnverifiedDenials),
	}
	for reason, n := range cur.Denials {
		if n > added.Denials[reason] {
			if d.Denials == nil {
				d.Denials = map[string]uint32{}
			}
			d.Denials[reason] = n - added.Denials[reason]
		}
	}
	d.Countries = countsDelta(cur.Countries, added.Countries)
	d.Networks = countsDelta(cur.Networks, added.Networks)
	changed := d.Requests() > 0 || len(d.Denials) > 0 || len(d.Countries) > 0 || len(d.Networks) > 0
	return d, changed
}

func countsDelta(cur, added []analytics.Count) []analytics.Count {
	var out []analytics.Count
	for _, c := range cur {
		var before uint32
		for _, a := range added {
			if a.Value == c.Value {
				before = a.N
			}
		}
		if before > c.N {
			before = 0
		}
		if c.N > before {
			out = append(out, analytics.Count{Value: c.Value, N: c.N - before})
		}
	}
	return out
}
