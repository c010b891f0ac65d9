package analytics

import "time"

// Params tune the detectors; DefaultParams documents the defaults. Every
// duration is of simulated or real time alike: the Store takes time only
// from its callers.
type Params struct {
	// WarmUp is how long a key must have been used before the baseline
	// detectors (Silence, Volume) may flag it, so a new key is not flagged.
	WarmUp time.Duration
	// SilenceAfter: a key whose baseline expects traffic is flagged once
	// it has seen no verified request for this long while its baseline
	// expected at least SilenceMinExpected requests in that time.
	SilenceAfter       time.Duration
	SilenceMinExpected float64
	// VolumeFactor: the hourly volume is flagged when it is above
	// baseline×VolumeFactor (VolumeSpike) or below baseline÷VolumeFactor
	// (VolumeDrop), and off by at least VolumeMinRequests.
	VolumeFactor      float64
	VolumeMinRequests float64
	// DenialRate and DenialMinCount: a minute with at least DenialMinCount
	// denials of one kind, more than DenialRate of its requests (verified
	// denials: of its verified requests, and above the key's usual share
	// beyond chance) is a spike. See detect_denials.go.
	DenialRate     float64
	DenialMinCount uint32
	// TravelSpeedKmh: two countries seen closer in time than their
	// distance at this speed is impossible travel.
	TravelSpeedKmh float64
	// NewLocationWarmUp: countries and networks seen in a key's first
	// NewLocationWarmUp of use are its own, not new.
	NewLocationWarmUp time.Duration
}

// DefaultParams are the defaults docs/analytics.md documents. The
// evaluation on synthetic traces (package synthetic, BenchmarkDetectors)
// measures them: change one, run it.
func DefaultParams() Params {
	return Params{
		WarmUp:             72 * time.Hour,
		SilenceAfter:       6 * time.Hour,
		SilenceMinExpected: 50,
		VolumeFactor:       5,
		VolumeMinRequests:  100,
		DenialRate:         0.1,
		DenialMinCount:     30,
		TravelSpeedKmh:     1000,
		NewLocationWarmUp:  24 * time.Hour,
	}
}
