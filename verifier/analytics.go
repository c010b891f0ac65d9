package verifier

import (
	"math"
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
// It sits on every decision, so its hot path is a lookup that takes no lock
// in one of many shards and a short per-key lock around a few increments:
// nothing slow is ever held under a lock, and a known key costs no
// allocation.
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
	// mu is held by whoever adds or drops keys. Lookups read m without
	// it: a sync.Map's reads write nothing shared, where a read lock is a
	// write the cores taking requests contend for.
	mu sync.Mutex
	m  sync.Map // key ID → *keyActivity
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
	minute                                                    int64 // Unix minutes; 0 is empty
	permits, verifiedDenials, otherDenials, unverifiedDenials uint32
	denials                                                   []reasonCount
	countries                                                 topK[[2]byte]
	networks                                                  topK[netip.Prefix]
}

type reasonCount struct {
	reason Reason
	n      uint32
}

func newActivity(maxKeys int) *activity {
	return &activity{max: int64(maxKeys)}
}

// record counts one decision. A decision about a key carries its entry;
// it is the key's own use when the credential verified (KeyID set), and
// otherwise only a denial of a request that named it, which anyone who
// read the key ID can cause: that never counts as use, nor moves the key
// to a country or network. Of the key's own use, only the denials its
// holder's request causes by what it asks are VerifiedDenials (see
// holderCaused); the rest are OtherDenials.
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
func (v *Verifier) countActivity(d Decision, env access.Environment, now time.Time, took time.Duration) {
	if v.activity == nil {
		return
	}
	e := snapshotEnv(env.Country, env.Address)
	v.activity.record(d, &e, now, took)
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
	case !verified:
		s.unverifiedDenials++
	case holderCaused(d):
		s.verifiedDenials++
	default:
		s.otherDenials++
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

// holderCaused reports whether a denial of a verified credential is its
// holder asking for what the key may not do: a scope, an access condition,
// a certificate binding, a way of authenticating. A stolen key probing
// what it may do makes these, so they are what the Denials detector may
// act on. Anything else after verification (limits and quotas, which
// another key of the same owner can drain; a failed rate-limit store; a
// secret past its grace; any Indeterminate) happens to honest clients
// too, all at once in an outage: it must never suspend or revoke a key.
// So does a bound certificate's own validity ending or not yet begun, as
// a secret's grace does. A reason not listed here is of that kind, so that
// a new one cannot make an outage actionable.
func holderCaused(d Decision) bool {
	if d.Result != Deny {
		return false
	}
	switch d.Reason {
	case ReasonCertificateExpired, ReasonCertificateNotYetValid:
		return false
	case ReasonInsufficientScope, ReasonAuthMethodNotAllowed,
		ReasonSourceNotAllowed, ReasonOutsideTimeWindow, ReasonCountryNotAllowed,
		ReasonNetworkNotAllowed, ReasonDeviceNotCompliant,
		ReasonTokenCertificateMissing, ReasonTokenCertificateMismatch:
		return true
	}
	return certificateReason(d.Reason)
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
	if k, ok := sh.m.Load(id); ok {
		return k.(*keyActivity)
	}
	// Once full, the table stays so until a snapshot frees places: a flood
	// of decisions about untracked keys must not queue on the write lock.
	if a.tracked.Load() >= a.max {
		return nil
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if k, ok := sh.m.Load(id); ok {
		return k.(*keyActivity)
	}
	if a.tracked.Add(1) > a.max {
		a.tracked.Add(-1)
		return nil
	}
	k := &keyActivity{}
	sh.m.Store(id, k)
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

// keyMinutes is one key's reportable minutes.
type keyMinutes struct {
	id      string
	minutes []analytics.Minute
}

// snapshot returns every key's minutes within the last
// usage.ActivityMinutes, oldest first, busiest key first, and forgets the
// keys with none, freeing their place.
func (a *activity) snapshot(now time.Time) []keyMinutes {
	all, _ := a.busiest(now, math.MaxInt)
	return all
}

// busiest returns the limit busiest keys (by busier) with minutes within
// the last usage.ActivityMinutes, busiest first, each key's minutes
// oldest first, and how many other keys had some; it forgets the keys with
// none, freeing their place. Keys are ranked on their counts alone and
// only the chosen ones are exported, so that a report costs the same
// whatever the number of keys tracked. A shard is locked only to drop idle
// keys.
func (a *activity) busiest(now time.Time, limit int) (_ []keyMinutes, others int) {
	oldest := unixMinute(now) - usage.ActivityMinutes + 1
	top := rankHeap{limit: limit}
	var idle []string
	for i := range a.shards {
		sh := &a.shards[i]
		idle = idle[:0]
		sh.m.Range(func(key, value any) bool {
			id, k := key.(string), value.(*keyActivity)
			if r, ok := k.rank(id, oldest); ok {
				top.offer(rankedKey{rank: r, k: k})
			} else {
				idle = append(idle, id)
			}
			return true
		})
		if len(idle) > 0 {
			a.forget(sh, idle, oldest)
		}
	}
	chosen := top.sorted()
	out := make([]keyMinutes, 0, len(chosen))
	for _, c := range chosen {
		out = append(out, keyMinutes{id: c.rank.id, minutes: c.k.recent(oldest)})
	}
	return out, top.passed
}

// forget drops the keys still idle since oldest.
func (a *activity) forget(sh *activityShard, ids []string, oldest int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, id := range ids {
		got, ok := sh.m.Load(id)
		if !ok {
			continue
		}
		k := got.(*keyActivity)
		k.mu.Lock()
		if !k.active(oldest) {
			k.gone = true
			sh.m.Delete(id)
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

// rank is the key's activityRank over its minutes since oldest; false
// when it has none.
func (k *keyActivity) rank(id string, oldest int64) (activityRank, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	r := activityRank{id: id}
	active := false
	for i := range k.slots {
		if s := &k.slots[i]; s.minute >= oldest {
			active = true
			// analytics.Minute.Verified, without exporting the minute
			verified := uint64(s.permits) + uint64(s.verifiedDenials) + uint64(s.otherDenials)
			r.add(verified, verified+uint64(s.unverifiedDenials))
		}
	}
	return r, active
}

// recent copies the key's minutes since oldest, oldest first.
func (k *keyActivity) recent(oldest int64) []analytics.Minute {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []analytics.Minute
	for i := range k.slots {
		if s := &k.slots[i]; s.minute >= oldest {
			out = append(out, s.export())
		}
	}
	slices.SortFunc(out, func(x, y analytics.Minute) int { return x.Start.Compare(y.Start) })
	return out
}

// export is the minute as reports carry it.
func (s *minuteCounts) export() analytics.Minute {
	m := analytics.Minute{
		Start: time.Unix(s.minute*60, 0).UTC(), Permits: s.permits,
		VerifiedDenials: s.verifiedDenials, OtherDenials: s.otherDenials, UnverifiedDenials: s.unverifiedDenials,
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

// ActivityReport is this replica's recent activity of at most limit keys,
// the busiest (busier), and its decision latency since the last report
// (which this call resets). With analytics off it is empty.
func (v *Verifier) ActivityReport(limit int) usage.ActivityReport {
	r := usage.ActivityReport{ReportedAt: v.clock.Now(), Keys: map[string][]analytics.Minute{}}
	if v.activity == nil {
		return r
	}
	r.Latency = v.activity.latency.take()
	top, others := v.activity.busiest(r.ReportedAt, limit)
	for _, km := range top {
		r.Keys[km.id] = km.minutes
	}
	r.Omitted = others
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
