package analytics

import (
	"fmt"
	"strings"
)

// Denials flags a minute whose denials are at least Params.DenialMinCount
// and a share of its requests above both Params.DenialRate and the key's
// usual rate (three times it, or halfway from it to all, whichever is
// lower): someone guessing secrets, a stolen key probing what it may do, a
// client broken by a rotation. The usual rate is an EWMA of the share of
// verified requests denied (denialAlpha), moved by verified minutes only
// and not by the minutes it flags. It fires once per hour, or sooner when
// a burst turns actionable.
//
// Actionable only when the verified denials alone make the spike (the same
// rule on verified denials among verified requests): a burst of wrong
// secrets can come from anyone who read the key ID, and must not let them
// suspend or revoke someone else's key.
const denialQuiet = 60 // minutes between two findings of one burst

func (k *series) denialSpike(i uint32, m Minute, p Params) (Finding, bool) {
	usual := k.denials.usual()
	verified := m.Permits + m.VerifiedDenials
	spike := denialsSpike(uint64(m.VerifiedDenials)+uint64(m.UnverifiedDenials), m.Requests(), usual, p)
	actionable := denialsSpike(uint64(m.VerifiedDenials), uint64(verified), usual, p)
	if verified > 0 {
		k.denials.fold(m.VerifiedDenials, verified)
	}
	if !spike && !actionable {
		return Finding{}, false
	}
	recent := k.denialReported != 0 && i-k.denialReported < denialQuiet
	if recent && (k.denialActionable || !actionable) {
		return Finding{}, false
	}
	k.denialReported, k.denialActionable = i, actionable
	denials := uint64(m.VerifiedDenials) + uint64(m.UnverifiedDenials)
	return Finding{
		Detector: Denials, Reason: DenialSpike, At: timeOf(i), Actionable: actionable,
		Message: fmt.Sprintf("%d of %d requests denied at %s (%d after the credential verified), usually %.0f%% of verified requests: %s",
			denials, m.Requests(), clock(i), m.VerifiedDenials, usual*100, reasonList(m.Denials)),
	}, true
}

// denialsSpike is the rule on denied of total, against usual.
func denialsSpike(denied, total uint64, usual float64, p Params) bool {
	if denied < uint64(p.DenialMinCount) || total == 0 {
		return false
	}
	limit := max(p.DenialRate, min(3*usual, (1+usual)/2))
	return float64(denied)/float64(total) > limit
}

// reasonList names the top reasons of a minute for a message.
func reasonList(denials map[string]uint32) string {
	t := tally{}
	for r, n := range denials {
		t[r] = uint64(n)
	}
	top := t.top(3)
	parts := make([]string, 0, len(top))
	for _, c := range top {
		parts = append(parts, fmt.Sprintf("%s %d", c.Value, c.N))
	}
	if len(parts) == 0 {
		return "no reason given"
	}
	return strings.Join(parts, ", ")
}
