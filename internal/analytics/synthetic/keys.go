package synthetic

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// regions group countries so that an injected country can be near (a new
// country) or on another continent (impossible travel).
var regions = [][]string{
	{"DE", "FR", "NL", "BE", "GB", "IE", "ES", "IT", "PL", "SE", "AT", "CH", "DK", "CZ", "PT"},
	{"US", "CA", "MX", "BR", "AR", "CL", "CO"},
	{"JP", "KR", "IN", "SG", "AU", "NZ", "ID", "TH"},
}

// cell is one place a key's traffic comes from: a country, a network and
// the share of the key's traffic it carries.
type cell struct {
	country, network string
	share            float64
}

// key is one simulated key: its normal traffic, and at most one anomaly.
type key struct {
	id string
	// perMinute is the mean permits a minute over a day; the daily cycle
	// swings it by ±amplitude around peakHour (UTC), a weekend multiplies
	// it by weekend, and it grows by growth a day.
	perMinute, amplitude, peakHour, weekend, growth float64
	// batch keys run two hours around peakHour on Mondays, Wednesdays
	// and Fridays, and are not used otherwise.
	batch bool
	cells []cell
	// denialRate is the usual share of verified requests denied;
	// wrongSecretsPerHour the usual rate of requests with a wrong secret.
	denialRate, wrongSecretsPerHour float64
	// rateLimited: its usual denials are a rate limit's (OtherDenials),
	// not a condition's.
	rateLimited bool
	anomaly     *anomaly
	noise       float64 // this hour's multiplicative noise
}

// anomaly is an injected change of a key's traffic.
type anomaly struct {
	Label
	factor   float64 // Volume: the traffic's multiplier
	perMin   float64 // NewLocation: the intruder's requests a minute; Denials: denials a minute
	intruder cell
}

func network(n int, v6 bool) string {
	if v6 {
		return fmt.Sprintf("2001:db8:%x::/48", n)
	}
	return fmt.Sprintf("10.%d.%d.0/24", n/256%256, n%256)
}

// newKey draws a key's normal traffic: volumes log-uniform from about two
// requests an hour to hundreds a minute; one home country, or two it is
// always used from; one or two networks in each.
func newKey(r *rand.Rand, n int) *key {
	k := &key{
		id:                  fmt.Sprintf("key-%04d", n),
		perMinute:           math.Exp(math.Log(0.03) + r.Float64()*(math.Log(300)-math.Log(0.03))),
		amplitude:           0.2 + 0.5*r.Float64(),
		peakHour:            24 * r.Float64(),
		weekend:             1,
		denialRate:          0.03 * r.Float64(),
		wrongSecretsPerHour: 0.5 * r.Float64(),
	}
	if r.Float64() < 0.3 {
		k.weekend = 0.5 // a weekend dip
	}
	if r.Float64() < 0.2 {
		k.growth = 0.03 + 0.04*r.Float64() // a gentle growth
	}
	if r.Float64() < 0.05 && k.perMinute >= 1 {
		k.batch = true
	}
	if r.Float64() < 0.05 {
		k.denialRate = 0.3 + 0.2*r.Float64() // a key usually partly denied
		k.rateLimited = r.Float64() < 0.5    // by its limits, or by a condition
	}
	region := regions[r.IntN(len(regions))]
	countries := []string{region[r.IntN(len(region))]}
	if r.Float64() < 0.25 { // a second country, anywhere, always used
		other := regions[r.IntN(len(regions))]
		if c := other[r.IntN(len(other))]; c != countries[0] {
			countries = append(countries, c)
		}
	}
	v6 := r.Float64() < 0.2
	for ci, c := range countries {
		share := 1.0
		if len(countries) == 2 {
			share = []float64{0.7, 0.3}[ci]
		}
		nets := 1 + r.IntN(2)
		for j := range nets {
			k.cells = append(k.cells, cell{country: c, network: network(n*4+ci*2+j, v6), share: share / float64(nets)})
		}
	}
	return k
}

// rate is the key's mean permits in the minute at, before anomalies.
func (k *key) rate(at, start time.Time) float64 {
	hour := float64(at.Hour()) + float64(at.Minute())/60
	if k.batch {
		wd := at.Weekday()
		if (wd == time.Monday || wd == time.Wednesday || wd == time.Friday) && math.Abs(hour-k.peakHour) < 1 {
			return k.peak() * k.noise
		}
		return 0
	}
	cycle := 1 + k.amplitude*math.Cos(2*math.Pi*(hour-k.peakHour)/24)
	days := at.Sub(start).Hours() / 24
	weekend := 1.0
	if wd := at.Weekday(); wd == time.Saturday || wd == time.Sunday {
		weekend = k.weekend
	}
	return k.perMinute * cycle * weekend * (1 + k.growth*days) * k.noise
}

// peak is the key's busiest mean permits a minute, before growth.
func (k *key) peak() float64 {
	if k.batch {
		return 10 * k.perMinute
	}
	return k.perMinute * (1 + k.amplitude)
}

// busyHour is a time on day of the trace when the key is near its peak.
func (k *key) busyHour(r *rand.Rand, day time.Time) time.Time {
	h := k.peakHour - 3 + 6*r.Float64()
	return day.Add(time.Duration(math.Mod(h+24, 24) * float64(time.Hour))).Truncate(time.Minute)
}

// poisson draws a Poisson count: by inversion when small, by its normal
// approximation when large.
func poisson(r *rand.Rand, mean float64) uint32 {
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		return uint32(max(0, math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
	}
	limit, n, p := math.Exp(-mean), uint32(0), r.Float64()
	for p > limit {
		n++
		p *= r.Float64()
	}
	return n
}
