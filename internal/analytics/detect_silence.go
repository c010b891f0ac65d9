package analytics

import (
	"fmt"
	"math/bits"
	"time"
)

// Silence flags a key that stopped being used: no verified request for at
// least Params.SilenceAfter, while the key's baseline (Volume's, per hour
// of the day) expected at least Params.SilenceMinExpected permits since
// its last use. A key quiet at night is therefore flagged in the morning,
// when its usual traffic fails to come, not at night. Only keys whose
// baseline is trusted are judged (WarmUp), and only keys used on most days
// (five of the seven up to the last use, or as large a share of the days
// since the first use): a batch job that runs every other day is not
// silent on the days between. Nor is a day expected that the key was not
// used on a week before, once it has that week of history: a key used on
// weekdays is not silent at the weekend. Minutes of an incomplete picture
// (Store.Incomplete) might have held a use: the silence counts from the
// last of them. It fires once per silence and re-arms when the key is used
// again. Tick evaluates it.
//
// silenceHorizon bounds how far the expectation is summed: a baseline
// that expects too little in two days to be missed never will be.
const silenceHorizon = 48

func (k *series) silence(now uint32, p Params, gaps *incompleteMinutes) (Finding, bool) {
	// A minute whose reports left keys out may have held a use of this
	// one: the silence is only known since the last such minute.
	from := max(k.lastUsed, gaps.last)
	if k.silenceReported || !k.used() || now <= from ||
		since(from, now) < p.SilenceAfter || since(k.firstUsed, k.lastUsed) < p.WarmUp {
		return Finding{}, false
	}
	if !k.usedMostDays() {
		return Finding{}, false
	}
	expected := k.expectedPermits(from+1, now)
	if expected < p.SilenceMinExpected {
		return Finding{}, false
	}
	k.silenceReported = true
	return Finding{
		Detector: Silence, Reason: FellSilent, At: timeOf(now), Actionable: true,
		Message: fmt.Sprintf("No verified request since %s (%s ago); its baseline expected about %.0f in that time",
			timeOf(k.lastUsed).Format("2006-01-02 15:04 UTC"), since(k.lastUsed, now).Round(time.Minute), expected),
	}, true
}

// usedMostDays reports whether the key was used on at least five of the
// seven days up to its last use, or the same share of fewer days when it
// is younger.
func (k *series) usedMostDays() bool {
	days := min(7, dayOf(k.lastUsed)-dayOf(k.firstUsed)+1)
	used := uint32(bits.OnesCount8(k.usedDays & (1<<days - 1)))
	return 7*used >= 5*days
}

// usedWeekBefore reports whether the key was used on the day a week
// before hour h's, true when its history does not go back that far. Hour h
// is at most silenceHorizon after the last use, so that day is in usedDays.
func (k *series) usedWeekBefore(h uint32) bool {
	day := h / 24
	if day < 7 || day-7 < dayOf(k.firstUsed) || day-7 > dayOf(k.lastUsed) {
		return true
	}
	back := dayOf(k.lastUsed) - (day - 7)
	return back < 8 && k.usedDays&(1<<back) != 0
}

// expectedPermits sums the baseline over minutes [from, to), at most
// silenceHorizon hours of it, counting only trusted hours of the day.
func (k *series) expectedPermits(from, to uint32) float64 {
	if to-from > silenceHorizon*60 {
		to = from + silenceHorizon*60
	}
	var sum float64
	for m := from; m < to; {
		h := hourOf(m)
		end := uint32(min(uint64(h+1)*60, uint64(to)))
		hod := hourOfDay(h)
		if k.volume.samples[hod] >= volumeSamples && k.usedWeekBefore(h) {
			sum += k.volume.expected(hod) * float64(end-m) / 60
		}
		m = end
	}
	return sum
}
