package analytics

import (
	"fmt"
	"math"
)

// The baselines move with verified requests only: an attacker who knows a
// key ID but not its secret cannot teach a key a new normal.

// volumeAlpha weighs the latest day in an hour of the day's mean: about
// the last three days count, so a key's growth is followed within days
// while one odd hour moves its hour of the day by less than a third.
const volumeAlpha = 0.3

// volumeSamples is how many days an hour of the day must have been seen
// before Volume and Silence trust it (besides Params.WarmUp).
const volumeSamples = 3

// volumeBaseline is a key's usual permits per clock hour, one EWMA per
// hour of the day (UTC), so that a key's daily cycle is its normal.
type volumeBaseline struct {
	mean    [24]float32
	dev     [24]float32 // EWMA of the absolute deviation from mean
	samples [24]uint8
	// open is the first hour (index+1) not yet folded into the baseline;
	// 0 until the key is first used.
	open uint32
}

// expected is hour of the day hod's usual permits.
func (b *volumeBaseline) expected(hod int) float64 { return float64(b.mean[hod]) }

// usually says hour of the day hod's baseline for a message.
func (b *volumeBaseline) usually(hod int) string {
	return fmt.Sprintf("usually about %.0f (±%.0f) in that hour of the day", b.mean[hod], b.dev[hod])
}

// limits are the permits of an hour beyond which Volume flags it.
func (b *volumeBaseline) limits(hod int, p Params) (low, high float64) {
	mean := b.expected(hod)
	high = max(mean*p.VolumeFactor, mean+p.VolumeMinRequests)
	low = min(mean/p.VolumeFactor, mean-p.VolumeMinRequests)
	return low, high
}

// fold adds one hour's permits to its hour of the day. Once the hour of
// the day is trusted, an hour off the mean by more than VolumeMinRequests
// counts as at most √VolumeFactor off: an anomaly, flagged or not (a spike
// on a weekend's quiet morning may stay under the weekday's limit), must
// not become tomorrow's normal and make the next ordinary day look
// anomalous, while a lasting change is still learnt within days.
func (b *volumeBaseline) fold(hod int, permits float64, p Params) {
	if b.samples[hod] == 0 {
		b.mean[hod] = float32(permits)
		b.samples[hod] = 1
		return
	}
	mean := float64(b.mean[hod])
	if b.samples[hod] >= volumeSamples {
		if math.Abs(permits-mean) > p.VolumeMinRequests {
			soft := math.Sqrt(p.VolumeFactor)
			permits = min(max(permits, mean/soft), mean*soft)
		}
	}
	diff := math.Abs(permits - mean)
	b.mean[hod] = float32(mean + volumeAlpha*(permits-mean))
	b.dev[hod] = float32(float64(b.dev[hod]) + volumeAlpha*(diff-float64(b.dev[hod])))
	if b.samples[hod] < 255 {
		b.samples[hod]++
	}
}

// trusted reports whether the key's baseline may flag hour of the day hod
// at minute now.
func (s *series) trusted(hod int, now uint32, p Params) bool {
	return s.used() && s.volume.samples[hod] >= volumeSamples && since(s.firstUsed, now) >= p.WarmUp
}

// denialAlpha weighs one minute in the usual denial rate: about the last
// fifty minutes with verified traffic count.
const denialAlpha = 0.02

// denialBaseline is a key's usual share of verified requests denied, as
// EWMAs of verified denials and verified requests per minute (a ratio of
// sums, so a quiet minute's 1 of 1 weighs as little as it should).
type denialBaseline struct {
	denied, verified float32
	minutes          uint8 // minutes folded, up to denialWarmUp
}

func (b *denialBaseline) usual() float64 {
	if b.verified <= 0 {
		return 0
	}
	return min(1, float64(b.denied/b.verified))
}

func (b *denialBaseline) fold(verifiedDenials, verified uint32) {
	if b.minutes < denialWarmUp {
		b.minutes++
	}
	if b.verified <= 0 {
		b.denied, b.verified = float32(verifiedDenials), float32(verified)
		return
	}
	b.denied += denialAlpha * (float32(verifiedDenials) - b.denied)
	b.verified += denialAlpha * (float32(verified) - b.verified)
}
