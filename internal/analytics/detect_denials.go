package analytics

import (
	"fmt"
	"math"
	"strings"
)

// Denials flags a minute with at least Params.DenialMinCount denials of
// one kind that are too large a share of its requests:
//
//   - verified denials (scope, conditions, certificate binding), when they
//     are more than Params.DenialRate of the minute's permits and verified
//     denials, more than
//     the key's usual share (three times it, or a third of the way from it
//     to all, whichever is lower), and beyond chance (denialSigmas standard
//     deviations of the usual share's binomial): a stolen key probing
//     what it may do. The usual share is an EWMA of the share of verified
//     requests denied (denialAlpha), judged once it has seen denialWarmUp
//     minutes with verified requests: a key always half denied (by a
//     condition, say) is not flagged for it. Actionable.
//   - OtherDenials (limits, quotas, a failed rate-limit store, a secret
//     past its grace) are neither: an outage of the rate limits' Redis
//     denies every key with limits at once, and a quota drained by another
//     key of its owner is no probe. They move no baseline and make no
//     spike.
//   - unverified denials (wrong secrets, backoff), when they are more than
//     Params.DenialRate of all the minute's requests: someone guessing, or
//     a client broken by a rotation. Not actionable: anyone who read the
//     key ID can cause it, and must not suspend or revoke someone else's
//     key. Unverified denials have no baseline, for the same reason.
//
// One finding per burst: none for denialQuiet minutes after one, unless
// the burst turns actionable.
const (
	denialQuiet  = 60
	denialWarmUp = 30
	denialSigmas = 5
)

func (k *series) denialSpike(i uint32, m Minute, p Params) (Finding, bool) {
	// OtherDenials apart: they would dilute a probe's share as much as
	// they would make an outage one.
	verified := addSat(m.Permits, m.VerifiedDenials)
	usual, warm := k.denials.usual(), k.denials.minutes >= denialWarmUp
	n := float64(verified)
	chance := usual*n + denialSigmas*math.Sqrt(n*usual*(1-usual))
	actionable := warm && float64(m.VerifiedDenials) > chance &&
		denialsSpike(uint64(m.VerifiedDenials), uint64(verified), max(p.DenialRate, min(3*usual, usual+(1-usual)/3)), p)
	spike := actionable || denialsSpike(uint64(m.UnverifiedDenials), m.Requests(), p.DenialRate, p)
	if verified > 0 {
		k.denials.fold(m.VerifiedDenials, verified)
	}
	if !spike {
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
		Message: fmt.Sprintf("%d of %d requests denied at %s (%d after the credential verified; usually %.0f%% of verified requests): %s",
			denials, m.Requests(), clock(i), m.VerifiedDenials, usual*100, reasonList(m.Denials)),
	}, true
}

// denialsSpike: at least DenialMinCount denied, and more than limit of total.
func denialsSpike(denied, total uint64, limit float64, p Params) bool {
	if denied < uint64(p.DenialMinCount) || total == 0 {
		return false
	}
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
