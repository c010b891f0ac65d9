package verifier

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/usage"
)

// activity counts each key's use per minute, for the activity reports.
//
// It sits on every decision, so its hot path is a read-locked lookup in one
// of many shards and a short per-key lock around a few increments: nothing
// slow is ever held under a lock, and a known key costs no allocation.
// Only keys the index knows get an entry (a decision carries an entry only
// for them), at most max of them, so a flood of made-up key IDs grows
// nothing; keys idle for the minutes a report carries free their place at
// the next snapshot.
type activity struct {
	max     int64
	tracked atomic.Int64
	// dropped counts decisions not counted because the table was full.
	dropped atomic.Uint64
	shards  [activityShards]activityShard
	latency latencyHistogram
}

// activityShards spreads the keys over independent locks; a power of two.
const activityShards = 64

type activityShard struct {
	mu sync.RWMutex
	m  map[string]*keyActivity
	// pad keeps neighbouring shards' locks off one cache line.
	_ [40]byte
}

// keyActivity is one key's counts of its latest minutes, a ring indexed by
// the minute.
type keyActivity struct {
	mu sync.Mutex
	// gone is set when a snapshot dropped the key from its shard: a
	// decision that found it just before counts into its replacement.
	gone  bool
	slots [usage.ActivityMinutes]minuteCounts
}

// minuteCounts is analytics.Minute in a form that counts without
// allocating: countries and networks in fixed arrays, reasons in a slice
// kept across minutes.
type minuteCounts struct {
	minute                                      int64 // Unix minutes; 0 is empty
	permits, verifiedDenials, unverifiedDenials uint32
	denials                                     []reasonCount
	countries                                   topK[[2]byte]
	networks                                    topK[netip.Prefix]
}

type reasonCount struct {
	reason Reason
	n      uint32
}

func newActivity(maxKeys int) *activity {
	a := &activity{max: int64(maxKeys)}
	for i := range a.shards {
		a.shards[i].m = map[string]*keyActivity{}
	}
	return a
}

// record counts one decision. A decision about a key carries its entry;
// it is the key's own use when the credential verified (KeyID set), and
// otherwise only a denial of a request that named it, which anyone who
// read the key ID can cause: that never counts as use, nor moves the key
// to a country or network.
func (a *activity) record(d Decision, env *envSnapshot, now time.Time, took time.Duration) {
	if a == nil {
		return
	}
	a.latency.observe(took)
	if d.entry == nil {
		return
	}
	id := d.entry.Record.KeyID
	minute := unixMinute(now)
	for range 2 {
		k := a.key(id)
		if k == nil {
			a.dropped.Add(1)
			return
		}
		k.mu.Lock()
		if !k.gone {
			k.count(d, env, minute)
			k.mu.Unlock()
			return
		}
		k.mu.Unlock()
	}
}

// countActivity counts a decision into the key's activity, when analytics
// is on.
func (v *Verifier) countActivity(d Decision, env access.Environment, took time.Duration) {
	if v.activity == nil {
		return
	}
	e := snapshotEnv(env.Country, env.Address)
	v.activity.record(d, &e, v.clock.Now(), took)
}

// envSnapshot is what of a request's environment analytics keeps.
type envSnapshot struct {
	country [2]byte
	network netip.Prefix
}

func snapshotEnv(country string, addr netip.Addr) envSnapshot {
	var e envSnapshot
	if analytics.ValidCountry(country) {
		e.country = [2]byte{country[0], country[1]}
	}
	if addr.IsValid() {
		e.network = analytics.NetworkOf(addr)
	}
	return e
}

func (k *keyActivity) count(d Decision, env *envSnapshot, minute int64) {
	s := &k.slots[minute%int64(len(k.slots))]
	if s.minute != minute {
		*s = minuteCounts{minute: minute, denials: s.denials[:0]}
	}
	verified := d.KeyID != ""
	switch {
	case d.Result == Permit:
		s.permits++
	case verified:
		s.verifiedDenials++
	default:
		s.unverifiedDenials++
	}
	if d.Result != Permit {
		s.countDenial(d.Reason)
	}
	if !verified {
		return
	}
	if env.country != ([2]byte{}) {
		s.countries.add(env.country)
	}
	if env.network.IsValid() {
		s.networks.add(env.network)
	}
}

func (s *minuteCounts) countDenial(r Reason) {
	for i := range s.denials {
		if s.denials[i].reason == r {
			s.denials[i].n++
			return
		}
	}
	if len(s.denials) < analytics.MaxReasons {
		s.denials = append(s.denials, reasonCount{r, 1})
	}
}

// key finds or adds the key's counts; nil when the table is full.
func (a *activity) key(id string) *keyActivity {
	sh := &a.shards[shardOf(id)]
	sh.mu.RLock()
	k := sh.m[id]
	sh.mu.RUnlock()
	if k != nil {
		return k
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if k = sh.m[id]; k != nil {
		return k
	}
	if a.tracked.Add(1) > a.max {
		a.tracked.Add(-1)
		return nil
	}
	k = &keyActivity{}
	sh.m[id] = k
	return k
}

// shardOf is FNV-1a of the key ID.
func shardOf(id string) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return int(h % activityShards)
}

func unixMinute(t time.Time) int64 { return t.Unix() / 60 }

// keyMinutes is one key's reportable minutes and their total requests.
type keyMinutes struct {
	id       string
	minutes  []analytics.Minute
	requests uint64
}

// snapshot returns every key's minutes within the last
// usage.ActivityMinutes, oldest first, busiest key first, and forgets the
// keys with none, freeing their place. Each shard is read-locked while its
// keys are copied and write-locked only to drop idle keys.
func (a *activity) snapshot(now time.Time) []keyMinutes {
	oldest := unixMinute(now) - usage.ActivityMinutes + 1
	var out []keyMinutes
	var idle []string
	for i := range a.shards {
		sh := &a.shards[i]
		idle = idle[:0]
		sh.mu.RLock()
		for id, k := range sh.m {
			if km, ok := k.recent(id, oldest); ok {
				out = append(out, km)
			} else {
				idle = append(idle, id)
			}
		}
		sh.mu.RUnlock()
		if len(idle) > 0 {
			a.forget(sh, idle, oldest)
		}
	}
	slices.SortFunc(out, func(x, y keyMinutes) int {
		if x.requests != y.requests {
			if x.requests > y.requests {
				return -1
			}
			return 1
		}
		return compareStrings(x.id, y.id)
	})
	return out
}

// forget drops the keys still idle since oldest.
func (a *activity) forget(sh *activityShard, ids []string, oldest int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, id := range ids {
		k := sh.m[id]
		if k == nil {
			continue
		}
		k.mu.Lock()
		if !k.active(oldest) {
			k.gone = true
			delete(sh.m, id)
			a.tracked.Add(-1)
		}
		k.mu.Unlock()
	}
}

func (k *keyActivity) active(oldest int64) bool {
	for i := range k.slots {
		if k.slots[i].minute >= oldest {
			return true
		}
	}
	return false
}

// recent copies the key's minutes since oldest.
func (k *keyActivity) recent(id string, oldest int64) (keyMinutes, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	km := keyMinutes{id: id}
	for i := range k.slots {
		if s := &k.slots[i]; s.minute >= oldest {
			m := s.export()
			km.minutes = append(km.minutes, m)
			km.requests += m.Requests()
		}
	}
	slices.SortFunc(km.minutes, func(x, y analytics.Minute) int { return x.Start.Compare(y.Start) })
	return km, len(km.minutes) > 0
}

// export is the minute as reports carry it.
func (s *minuteCounts) export() analytics.Minute {
	m := analytics.Minute{
		Start: time.Unix(s.minute*60, 0).UTC(), Permits: s.permits,
		VerifiedDenials: s.verifiedDenials, UnverifiedDenials: s.unverifiedDenials,
	}
	if len(s.denials) > 0 {
		m.Denials = make(map[string]uint32, len(s.denials))
		for _, r := range s.denials {
			m.Denials[string(r.reason)] = r.n
		}
	}
	m.Countries = s.countries.counts(analytics.MaxCountries, func(c [2]byte) string { return string(c[:]) })
	m.Networks = s.networks.counts(analytics.MaxNetworks, netip.Prefix.String)
	return m
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ActivityReport is this replica's recent activity of at most limit keys,
// the busiest, and its decision latency since the last report (which this
// call resets). With analytics off it is empty.
func (v *Verifier) ActivityReport(limit int) usage.ActivityReport {
	r := usage.ActivityReport{ReportedAt: v.clock.Now(), Keys: map[string][]analytics.Minute{}}
	if v.activity == nil {
		return r
	}
	r.Latency = v.activity.latency.take()
	for i, km := range v.activity.snapshot(r.ReportedAt) {
		if i >= limit {
			r.Omitted++
			continue
		}
		r.Keys[km.id] = km.minutes
	}
	return r
}

// ActivityAggregation is how this verifier's activity reaches the manager
// (AggregationEmbedded or AggregationRedis), or "" with analytics off.
func (v *Verifier) ActivityAggregation() string {
	if v.activity == nil {
		return ""
	}
	return v.analytics.aggregation
}
