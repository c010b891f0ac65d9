package analytics

import "time"

// Detector names one of the rules that flag a key (docs/analytics.md).
type Detector string

const (
	// Silence: a key with a steady baseline stops being used.
	Silence Detector = "Silence"
	// NewLocation: a key used from a country or network it was never seen
	// in, or from two countries too far apart for the time between them.
	NewLocation Detector = "NewLocation"
	// Volume: a key's request rate far off its own baseline for that hour
	// of the day.
	Volume Detector = "Volume"
	// Denials: a spike in a key's denials.
	Denials Detector = "Denials"
)

// Detectors lists every detector, in the order documentation lists them.
var Detectors = []Detector{Silence, NewLocation, Volume, Denials}

// Reason is a finding's machine-readable cause: the Anomalous condition's
// reason, the CloudEvent's, the audit line's.
type Reason string

const (
	FellSilent       Reason = "FellSilent"
	NewCountry       Reason = "NewCountry"
	NewNetwork       Reason = "NewNetwork"
	ImpossibleTravel Reason = "ImpossibleTravel"
	VolumeSpike      Reason = "VolumeSpike"
	VolumeDrop       Reason = "VolumeDrop"
	DenialSpike      Reason = "DenialSpike"
)

// Finding is one anomaly of one key.
type Finding struct {
	Detector Detector
	Reason   Reason
	// At is when the anomalous activity happened (the minute that showed
	// it; for Silence, when the key was due and not seen).
	At time.Time
	// Message says what was seen against what was expected, for a person
	// to act on: numbers, countries, networks. Never secret material.
	Message string
	// Actionable is false when someone without the key's secret could
	// have caused the finding (a DenialSpike made of unverified denials
	// only): policy may then alert but never suspend or revoke.
	Actionable bool
}
