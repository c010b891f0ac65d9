package policy

import (
	"fmt"

	"github.com/keyward-dev/keyward/internal/analytics"
)

// AnomalyAction is what a detector's finding does to a key, ordered by
// strictness: a larger value is stricter.
type AnomalyAction int

const (
	// AnomalyUnset: the key or policy does not say; Alert applies when
	// nobody does.
	AnomalyUnset AnomalyAction = iota
	AnomalyIgnore
	AnomalyAlert
	AnomalySuspend
	AnomalyRevoke
)

var anomalyActionNames = map[AnomalyAction]string{
	AnomalyIgnore: "Ignore", AnomalyAlert: "Alert", AnomalySuspend: "Suspend", AnomalyRevoke: "Revoke",
}

func (a AnomalyAction) String() string { return anomalyActionNames[a] }

// ParseAnomalyAction reads the API's spelling; "" is AnomalyUnset.
func ParseAnomalyAction(s string) (AnomalyAction, error) {
	if s == "" {
		return AnomalyUnset, nil
	}
	for a, name := range anomalyActionNames {
		if name == s {
			return a, nil
		}
	}
	return AnomalyUnset, fmt.Errorf("anomaly action %q is none of Ignore, Alert, Suspend, Revoke", s)
}

// AnomalyResponse is an action per detector; a detector absent is unset.
type AnomalyResponse map[analytics.Detector]AnomalyAction

// AnomalyFields are the spec fields of each detector, for messages.
var AnomalyFields = map[analytics.Detector]string{
	analytics.Silence: "silence", analytics.NewLocation: "newLocation",
	analytics.Volume: "volume", analytics.Denials: "denials",
}

// EffectiveAnomalyAction is what a finding of detector d does to the key:
// the strictest of the key's own action and every selecting policy's, and
// Alert when none of them says.
func EffectiveAnomalyAction(k Key, rules []Rules, d analytics.Detector) AnomalyAction {
	a := k.AnomalyResponse[d]
	for _, r := range rules {
		a = max(a, r.AnomalyResponse[d])
	}
	if a == AnomalyUnset {
		return AnomalyAlert
	}
	return a
}

// checkAnomalyResponse refuses a key that asks a detector for less than
// the policy requires. A key that leaves the detector unset takes the
// policy's action and is not refused.
func (r Rules) checkAnomalyResponse(k Key) []Violation {
	var vs []Violation
	for _, d := range analytics.Detectors {
		own, least := k.AnomalyResponse[d], r.AnomalyResponse[d]
		if own == AnomalyUnset || own >= least {
			continue
		}
		vs = append(vs, Violation{Field: "spec.anomalyResponse." + AnomalyFields[d],
			Message: fmt.Sprintf("%s is weaker than %s, which KeyPolicy %q requires", own, least, r.Name)})
	}
	return vs
}
