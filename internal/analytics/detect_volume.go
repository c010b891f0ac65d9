package analytics

import "fmt"

// Volume compares a key's permits per clock hour (UTC) with its baseline
// for that hour of the day: an EWMA over the days (volumeAlpha), trusted
// once the hour of the day was seen on volumeSamples days and the key has
// been in use for Params.WarmUp, so that a new key and a key's daily cycle
// are never anomalies.
//
//   - VolumeSpike: the hour's permits exceed both baseline×VolumeFactor and
//     baseline+VolumeMinRequests. Checked at every committed minute on
//     the hour so far: the count only grows, so the spike is flagged in
//     the minute it crosses the limit rather than after the hour; once
//     per clock hour.
//   - VolumeDrop: a completed hour's permits are below both
//     baseline÷VolumeFactor and baseline−VolumeMinRequests, and the key was
//     used in the hour before and the hour after. The hour's verified
//     requests denied (for limits, a failed store…) count as permits
//     here: an outage of the rate limits is no drop in use. Nor is an
//     hour judged that a replica's report left keys out of (Incomplete).
//     Checked on completed hours, when the next hour's first minute
//     arrives: a drop is only known once the hour is over. A key that stops altogether is
//     Silence's to report; the flanking hours keep the first and last hour
//     of a silence from being reported as drops.
//
// Completed clock hours rather than a sliding hour: the baseline is per
// hour of the day, and a sliding hour would straddle two of them; each
// hour is tested once, which keeps the false alarms of a day to 24 tests.
// Permits, not denials, make a key's volume: a denial burst is Denials'.

// volumeSpike checks the hour of minute i after i was added.
func (k *series) volumeSpike(i uint32, p Params) (Finding, bool) {
	h := hourOf(i)
	hod := hourOfDay(h)
	if k.spikeReported == h+1 || !k.trusted(hod, i, p) {
		return Finding{}, false
	}
	permits := float64(k.hourPermits(h))
	_, high := k.volume.limits(hod, p)
	if permits <= high {
		return Finding{}, false
	}
	k.spikeReported = h + 1
	return Finding{
		Detector: Volume, Reason: VolumeSpike, At: timeOf(i), Actionable: true,
		Message: fmt.Sprintf("%.0f requests permitted between %s and %s, %s",
			permits, clock(h*60), clock(i), k.volume.usually(hod)),
	}, true
}

// closeHours folds every hour before minute i's into the baseline, the
// hours without traffic as zero, and checks the hour just before for a
// VolumeDrop when minute i is used. It runs before the rings move on to
// minute i, so that an hour is folded before the ring lets it go.
func (k *series) closeHours(i uint32, used bool, p Params, gaps *incompleteMinutes) (Finding, bool) {
	current := hourOf(i)
	if !k.used() || k.volume.open > current {
		return Finding{}, false
	}
	from := k.volume.open - 1
	if current-from > foldHorizon {
		from = current - foldHorizon
	}
	var found Finding
	var ok bool
	for h := from; h < current; h++ {
		hod := hourOfDay(h)
		if gaps.hour(h) {
			continue // its permits may be short of the key's use
		}
		permits := float64(k.hourPermits(h))
		if used && h+1 == current && h > 0 && k.hourPermits(h-1) > 0 && k.trusted(hod, i, p) {
			if low, _ := k.volume.limits(hod, p); float64(k.hourVerified(h)) < low {
				found, ok = Finding{
					Detector: Volume, Reason: VolumeDrop, At: timeOf(h*60 + 59), Actionable: true,
					Message: fmt.Sprintf("%.0f requests permitted between %s and %s, %s",
						permits, clock(h*60), clock(h*60+59), k.volume.usually(hod)),
				}, true
			}
		}
		k.volume.fold(hod, permits, p)
	}
	k.volume.open = current + 1
	return found, ok
}

// foldHorizon bounds the hours one commit folds: after a week without a
// commit, the baseline of every hour of the day has seen a week of zeros
// and more would not change what it says.
const foldHorizon = 7 * 24
