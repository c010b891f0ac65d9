package usage

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/keys"
)

// The Redis aggregation: every verifier replica writes its counts of each
// minute into one hash per minute, which expires after ActivityRetention,
// and the manager reads each closed minute once, summing the replicas.
//
// A minute's hash is <prefix>activity:<Unix minute>; its fields are
// <key ID>|<replica>|<kind>[|<value>] with kinds p (permits), vd, od and ud
// (verified, other and unverified denials, see analytics.Minute),
// d|<reason> (denials by reason), c|<country> and n|<network>. Each field
// holds the replica's whole count of the minute so far, written with HSET:
// a write that timed out but landed is rewritten with the same or larger
// values by the next flush, never added twice. A country or network that
// left a replica's top-k keeps its last count there, an over-count no
// larger than the top-k's own. A verifier that restarts in the same Pod
// counts its current minutes from zero again under the same name, so the
// counts of its last minutes before the restart are lost, as those of a
// replica that stops are. ReadActivity sums the replicas and keeps the
// busiest MaxCountries and MaxNetworks of the sums.
//
// ActivityRetention bounds what the hashes cost the rate limits' Redis
// (TestActivityRedisMemory measures it: about 330 bytes per key, replica
// and minute of use, 250 for a minute of wrong secrets only; 15 minutes of
// 10,000 keys used through 3 replicas take about 140 MiB) and what a
// manager reads back when it starts: a leader change or a Redis outage
// shorter than this loses no minute. The baselines carry on from what remains after a longer one.
const ActivityRetention = 15 * time.Minute

// Field kinds of an activity hash.
const (
	fieldPermits           = "p"
	fieldVerifiedDenials   = "vd"
	fieldUnverifiedDenials = "ud"
	fieldOtherDenials      = "od"
	fieldDenial            = "d"
	fieldCountry           = "c"
	fieldNetwork           = "n"
)

// activityScanCount is the HSCAN batch: a minute of 100,000 keys is a few
// hundred round trips, none of which holds Redis long.
const activityScanCount = 1000

// ActivityKey is the hash of one minute's activity under prefix.
func ActivityKey(prefix string, minute time.Time) string {
	return prefix + "activity:" + strconv.FormatInt(minute.Unix()/60, 10)
}

// ValidateReplica refuses a replica name that is not a DNS label (at most
// 63 characters, as a Pod's name of a Deployment or StatefulSet is): it is
// a part of every field the replica writes.
func ValidateReplica(replica string) error {
	if errs := validation.IsDNS1123Label(replica); len(errs) > 0 {
		return fmt.Errorf("replica name %q: %s", replica, strings.Join(errs, "; "))
	}
	return nil
}

// WriteActivity writes replica's counts so far of each key's minutes
// (key ID → minutes, each whole, not a delta) into the minutes' hashes
// under prefix, in one pipeline, and keeps each hash for ActivityRetention
// from its last write. Writing the same counts again changes nothing. A
// minute that fails Validate, a malformed key ID or replica name is refused
// whole, before anything is written.
func WriteActivity(ctx context.Context, client redis.Cmdable, prefix, replica string, minutes map[string][]analytics.Minute) error {
	if err := ValidateReplica(replica); err != nil {
		return err
	}
	for id, list := range minutes {
		if err := keys.ValidateID(id); err != nil {
			return err
		}
		for _, m := range list {
			if err := m.Validate(); err != nil {
				return fmt.Errorf("key %s: %w", id, err)
			}
		}
	}
	pipe := client.Pipeline()
	hashes := map[string]bool{}
	for id, list := range minutes {
		for _, m := range list {
			h := ActivityKey(prefix, m.Start)
			hashes[h] = true
			pipe.HSet(ctx, h, minuteFields(id+"|"+replica+"|", m)...)
		}
	}
	if len(hashes) == 0 {
		return nil
	}
	for h := range hashes {
		pipe.Expire(ctx, h, ActivityRetention)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// minuteFields are the field names (under base) and values of a minute's
// non-zero counts.
func minuteFields(base string, m analytics.Minute) []any {
	var out []any
	put := func(field string, n uint32) {
		if n > 0 {
			out = append(out, base+field, strconv.FormatUint(uint64(n), 10))
		}
	}
	put(fieldPermits, m.Permits)
	put(fieldVerifiedDenials, m.VerifiedDenials)
	put(fieldUnverifiedDenials, m.UnverifiedDenials)
	put(fieldOtherDenials, m.OtherDenials)
	for reason, n := range m.Denials {
		put(fieldDenial+"|"+reason, n)
	}
	for _, c := range m.Countries {
		put(fieldCountry+"|"+c.Value, c.N)
	}
	for _, n := range m.Networks {
		put(fieldNetwork+"|"+n.Value, n.N)
	}
	return out
}

// ActivityRead is one minute as ReadActivity found it.
type ActivityRead struct {
	Keys map[string]analytics.Minute
	// Skipped counts fields no correct verifier writes (a malformed name,
	// key ID, value or count), left out rather than trusted.
	Skipped int
}

// ReadActivity returns every key's counts of one closed minute, all
// replicas summed; a minute nobody wrote is an empty map. Fields that no
// verifier writes are skipped (ReadActivityCounted counts them).
func ReadActivity(ctx context.Context, client redis.Cmdable, prefix string, minute time.Time) (map[string]analytics.Minute, error) {
	r, err := ReadActivityCounted(ctx, client, prefix, minute)
	return r.Keys, err
}

// ReadActivityCounted is ReadActivity with the count of the fields it
// skipped, for a metric or a log line: a verifier writing them is broken,
// or something else writes under the prefix.
func ReadActivityCounted(ctx context.Context, client redis.Cmdable, prefix string, minute time.Time) (ActivityRead, error) {
	start := minute.UTC().Truncate(time.Minute)
	h := ActivityKey(prefix, start)
	acc := map[string]*minuteSums{}
	out := ActivityRead{Keys: map[string]analytics.Minute{}}
	var cursor uint64
	for {
		fields, next, err := client.HScan(ctx, h, cursor, "*", activityScanCount).Result()
		if err != nil {
			return ActivityRead{}, fmt.Errorf("reading %s: %w", h, err)
		}
		for i := 0; i+1 < len(fields); i += 2 {
			if !addField(acc, fields[i], fields[i+1]) {
				out.Skipped++
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	for id, s := range acc {
		m := s.minute(start)
		if m.Validate() != nil {
			out.Skipped++
			continue
		}
		out.Keys[id] = m
	}
	return out, nil
}

// minuteSums gathers one key's fields before they become a Minute.
type minuteSums struct {
	m                   analytics.Minute
	countries, networks map[string]uint32
}

// addField adds one hash field, reporting whether it was well-formed.
func addField(acc map[string]*minuteSums, name, value string) bool {
	id, rest, ok := strings.Cut(name, "|")
	if !ok || keys.ValidateID(id) != nil {
		return false
	}
	replica, rest, ok := strings.Cut(rest, "|")
	if !ok || ValidateReplica(replica) != nil {
		return false
	}
	n64, err := strconv.ParseInt(value, 10, 64)
	if err != nil || n64 <= 0 || n64 > math.MaxUint32 {
		return false
	}
	n := uint32(n64)
	kind, arg, _ := strings.Cut(rest, "|")
	s := acc[id]
	if s == nil {
		s = &minuteSums{}
	}
	switch kind {
	case fieldPermits, fieldVerifiedDenials, fieldUnverifiedDenials, fieldOtherDenials:
		if arg != "" {
			return false
		}
		switch kind {
		case fieldPermits:
			s.m.Permits = addSaturating(s.m.Permits, n)
		case fieldVerifiedDenials:
			s.m.VerifiedDenials = addSaturating(s.m.VerifiedDenials, n)
		case fieldOtherDenials:
			s.m.OtherDenials = addSaturating(s.m.OtherDenials, n)
		default:
			s.m.UnverifiedDenials = addSaturating(s.m.UnverifiedDenials, n)
		}
	case fieldDenial:
		if _, known := s.m.Denials[arg]; !known && len(s.m.Denials) >= analytics.MaxReasons {
			return false
		}
		if s.m.Denials == nil {
			s.m.Denials = map[string]uint32{}
		}
		s.m.Denials[arg] = addSaturating(s.m.Denials[arg], n)
	case fieldCountry:
		if !analytics.ValidCountry(arg) {
			return false
		}
		s.countries = addCount(s.countries, arg, n)
	case fieldNetwork:
		p, err := netip.ParsePrefix(arg)
		if err != nil || p != analytics.NetworkOf(p.Addr()) {
			return false
		}
		s.networks = addCount(s.networks, arg, n)
	default:
		return false
	}
	acc[id] = s
	return true
}

func addCount(m map[string]uint32, v string, n uint32) map[string]uint32 {
	if m == nil {
		m = map[string]uint32{}
	}
	m[v] = addSaturating(m[v], n)
	return m
}

func addSaturating(a, b uint32) uint32 {
	if a > math.MaxUint32-b {
		return math.MaxUint32
	}
	return a + b
}

func (s *minuteSums) minute(start time.Time) analytics.Minute {
	m := s.m
	m.Start = start
	m.Countries = top(s.countries, analytics.MaxCountries)
	m.Networks = top(s.networks, analytics.MaxNetworks)
	return m
}

// top keeps the limit largest counts, most frequent first.
func top(m map[string]uint32, limit int) []analytics.Count {
	if len(m) == 0 {
		return nil
	}
	out := make([]analytics.Count, 0, len(m))
	for v, n := range m {
		out = append(out, analytics.Count{Value: v, N: n})
	}
	slices.SortFunc(out, func(a, b analytics.Count) int {
		if c := cmp.Compare(b.N, a.N); c != 0 {
			return c
		}
		return cmp.Compare(a.Value, b.Value)
	})
	return out[:min(len(out), limit)]
}
