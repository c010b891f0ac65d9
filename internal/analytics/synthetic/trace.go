package synthetic

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/keyward-dev/keyward/internal/analytics"
)

// Config shapes a trace.
type Config struct {
	// Seed makes the trace: the same seed, the same trace.
	Seed uint64
	// Keys and Days: how many keys, and how many days of their traffic.
	Keys, Days int
	// Start is the trace's first minute, a Monday midnight UTC.
	Start time.Time
	// AnomalyShare of the keys get one anomaly, starting between
	// AnomaliesFrom (after the detectors' warm-up) and AnomaliesUntil
	// after Start, leaving the detectors time to see it.
	AnomalyShare                  float64
	AnomaliesFrom, AnomaliesUntil time.Duration
}

// Evaluation is the trace `make bench` scores: several hundred keys over a
// week.
func Evaluation() Config {
	return Config{Seed: 15, Keys: 400, Days: 7, Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
		AnomalyShare: 0.6, AnomaliesFrom: 84 * time.Hour, AnomaliesUntil: 6 * 24 * time.Hour}
}

// Small is a trace small enough for every test run.
func Small() Config {
	c := Evaluation()
	c.Seed, c.Keys, c.Days, c.AnomalyShare, c.AnomaliesUntil = 16, 120, 5, 0.8, 4*24*time.Hour
	return c
}

// Kind is an injected anomaly.
type Kind string

const (
	FallsSilent      Kind = "falls silent"
	GoesToNewCountry Kind = "new country"
	TravelsTooFast   Kind = "impossible travel"
	GoesToNewNetwork Kind = "new network"
	VolumeUp         Kind = "volume up"
	VolumeDown       Kind = "volume down"
	VerifiedBurst    Kind = "verified denial burst"
	UnverifiedBurst  Kind = "unverified denial burst"
)

var allKinds = []Kind{FallsSilent, GoesToNewCountry, TravelsTooFast, GoesToNewNetwork, VolumeUp, VolumeDown, VerifiedBurst, UnverifiedBurst}

// detectors says which detector must find each kind, and whether its
// finding must be actionable.
var detectors = map[Kind]struct {
	detector   analytics.Detector
	actionable bool
}{
	FallsSilent:      {analytics.Silence, true},
	GoesToNewCountry: {analytics.NewLocation, true},
	TravelsTooFast:   {analytics.NewLocation, true},
	GoesToNewNetwork: {analytics.NewLocation, true},
	VolumeUp:         {analytics.Volume, true},
	VolumeDown:       {analytics.Volume, true},
	VerifiedBurst:    {analytics.Denials, true},
	UnverifiedBurst:  {analytics.Denials, false},
}

// Label is an injected anomaly: the key, what was done to its traffic in
// [Start, End), and the finding it calls for.
type Label struct {
	Key        string
	Kind       Kind
	Detector   analytics.Detector
	Actionable bool
	Start, End time.Time
}

// KeyMinute is one key's minute.
type KeyMinute struct {
	Key string
	analytics.Minute
}

// Trace is the keys of a Config, their traffic made minute by minute when
// replayed.
type Trace struct {
	Config Config
	Labels []Label
	keys   []*key
}

// Generate draws a trace's keys and anomalies.
func Generate(c Config) *Trace {
	r := rand.New(rand.NewPCG(c.Seed, 1))
	t := &Trace{Config: c}
	for n := range c.Keys {
		k := newKey(r, n)
		t.keys = append(t.keys, k)
		if r.Float64() >= c.AnomalyShare {
			continue
		}
		kind := allKinds[r.IntN(len(allKinds))]
		// a key too quiet for a change of volume to be news gets another
		if (kind == FallsSilent || kind == VolumeUp) && k.perMinute < 1 || kind == VolumeDown && k.perMinute < 5 ||
			k.batch && (kind == FallsSilent || kind == VolumeUp || kind == VolumeDown) {
			kind = []Kind{GoesToNewCountry, TravelsTooFast, GoesToNewNetwork, VerifiedBurst, UnverifiedBurst}[r.IntN(5)]
		}
		t.Labels = append(t.Labels, t.inject(r, k, kind))
	}
	return t
}

// inject gives k an anomaly of kind.
func (t *Trace) inject(r *rand.Rand, k *key, kind Kind) Label {
	c := t.Config
	span := c.AnomaliesUntil - c.AnomaliesFrom
	start := c.Start.Add(c.AnomaliesFrom + time.Duration(r.Float64()*float64(span))).Truncate(time.Minute)
	if k.batch { // a batch key is used on its days, at its hours only
		day := start.Truncate(24 * time.Hour)
		for wd := day.Weekday(); wd != time.Monday && wd != time.Wednesday && wd != time.Friday; wd = day.Weekday() {
			day = day.Add(-24 * time.Hour)
		}
		start = k.busyHour(r, day)
	}
	end := c.Start.Add(time.Duration(c.Days) * 24 * time.Hour)
	a := &anomaly{}
	switch kind {
	case FallsSilent:
		if r.Float64() < 0.3 {
			end = start.Add(14 * time.Hour) // and comes back
		}
	case VolumeUp, VolumeDown:
		start = k.busyHour(r, start.Truncate(24*time.Hour))
		a.factor, end = 10, start.Add(3*time.Hour)
		if kind == VolumeDown {
			a.factor, end = 0.1, start.Add(4*time.Hour)
		}
	case GoesToNewCountry, TravelsTooFast, GoesToNewNetwork:
		start = k.busyHour(r, start.Truncate(24*time.Hour))
		a.perMin, end = 0.5, start.Add(30*time.Minute)
		a.intruder = k.intruder(r, kind)
	case VerifiedBurst:
		a.perMin, end = math.Max(30, 1.5*k.peak()), start.Add(3*time.Minute)
	case UnverifiedBurst:
		a.perMin, end = 200+1800*r.Float64(), start.Add(5*time.Minute)
	}
	d := detectors[kind]
	a.Label = Label{Key: k.id, Kind: kind, Detector: d.detector, Actionable: d.actionable, Start: start, End: end}
	k.anomaly = a
	return a.Label
}

// intruder is where a stolen key is used from: a country the key is not
// used from, near its own or on another continent, or a new network at
// home.
func (k *key) intruder(r *rand.Rand, kind Kind) cell {
	home := k.cells[0].country
	intruder := cell{country: home, network: fmt.Sprintf("172.%d.%d.0/24", 16+r.IntN(16), r.IntN(256))}
	if kind == GoesToNewNetwork {
		return intruder
	}
	for {
		var candidates []string
		for _, region := range regions {
			near := slices.Contains(region, home)
			if near == (kind == GoesToNewCountry) {
				candidates = append(candidates, region...)
			}
		}
		c := candidates[r.IntN(len(candidates))]
		if !slices.ContainsFunc(k.cells, func(own cell) bool { return own.country == c }) {
			intruder.country = c
			return intruder
		}
	}
}

// End is the first minute after the trace.
func (t *Trace) End() time.Time {
	return t.Config.Start.Add(time.Duration(t.Config.Days) * 24 * time.Hour)
}

// Replay makes the trace's traffic minute by minute, in order, and calls
// visit with each minute's keys that had any. The same trace replays the
// same traffic.
func (t *Trace) Replay(visit func(at time.Time, minutes []KeyMinute)) {
	r := rand.New(rand.NewPCG(t.Config.Seed, 2))
	var batch []KeyMinute
	for at := t.Config.Start; at.Before(t.End()); at = at.Add(time.Minute) {
		batch = batch[:0]
		for _, k := range t.keys {
			if at.Minute() == 0 || k.noise == 0 {
				k.noise = math.Exp(0.15 * r.NormFloat64())
			}
			if m := k.minute(r, at, t.Config.Start); m.Requests() > 0 {
				batch = append(batch, KeyMinute{Key: k.id, Minute: m})
			}
		}
		visit(at, batch)
	}
}

// minute is the key's traffic in minute at, as the verifiers count it.
func (k *key) minute(r *rand.Rand, at, start time.Time) analytics.Minute {
	mean := k.rate(at, start)
	a := k.anomaly
	active := a != nil && !at.Before(a.Start) && at.Before(a.End)
	if active && a.factor > 0 {
		mean *= a.factor
	}
	silent := active && a.Kind == FallsSilent
	countries, networks := map[string]uint32{}, map[string]uint32{}
	m := analytics.Minute{Start: at}
	for _, c := range k.cells {
		if n := poisson(r, mean*c.share); n > 0 && !silent {
			countries[c.country] += n
			networks[c.network] += n
			m.Permits += n
		}
	}
	if vd := poisson(r, mean*k.denialRate/(1-k.denialRate)); vd > 0 && !silent {
		if k.rateLimited {
			m.OtherDenials = vd
		} else {
			m.VerifiedDenials = vd
		}
		countries[k.cells[0].country] += vd
		networks[k.cells[0].network] += vd
	}
	m.UnverifiedDenials = poisson(r, k.wrongSecretsPerHour/60)
	if r.Float64() < 0.02/60 { // a client briefly misconfigured
		m.UnverifiedDenials += 5 + uint32(r.IntN(11))
	}
	if active {
		switch a.Kind {
		case GoesToNewCountry, TravelsTooFast, GoesToNewNetwork:
			if n := poisson(r, a.perMin); n > 0 {
				countries[a.intruder.country] += n
				networks[a.intruder.network] += n
				m.Permits += n
			}
		case VerifiedBurst:
			m.VerifiedDenials += uint32(a.perMin)
			countries[k.cells[0].country] += uint32(a.perMin)
			networks[k.cells[0].network] += uint32(a.perMin)
		case UnverifiedBurst:
			m.UnverifiedDenials += uint32(a.perMin)
		}
	}
	verifiedReason := "insufficient_scope"
	if k.denialRate > 0.2 {
		verifiedReason = "outside_time_window"
	}
	for reason, n := range map[string]uint32{verifiedReason: m.VerifiedDenials, "rate_limited": m.OtherDenials, "invalid_secret": m.UnverifiedDenials} {
		if n > 0 {
			if m.Denials == nil {
				m.Denials = map[string]uint32{}
			}
			m.Denials[reason] = n
		}
	}
	m.Countries = top(countries, analytics.MaxCountries)
	m.Networks = top(networks, analytics.MaxNetworks)
	return m
}

// top keeps the most frequent values, as a verifier's sketch does.
func top(counts map[string]uint32, k int) []analytics.Count {
	var out []analytics.Count
	for v, n := range counts {
		out = append(out, analytics.Count{Value: v, N: n})
	}
	slices.SortFunc(out, func(a, b analytics.Count) int {
		if c := cmp.Compare(b.N, a.N); c != 0 {
			return c
		}
		return cmp.Compare(a.Value, b.Value)
	})
	return out[:min(k, len(out))]
}
