package synthetic

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward-dev/keyward/internal/analytics"
)

// slack is how long after a label's end a finding of its detector still
// counts as finding it: a VolumeDrop is known when the hour closes, the
// other detectors judge the minute they see.
var slack = map[analytics.Detector]time.Duration{
	analytics.Silence:     0,
	analytics.NewLocation: 10 * time.Minute,
	analytics.Volume:      2 * time.Hour,
	analytics.Denials:     5 * time.Minute,
}

// Score is one detector's result on a trace.
type Score struct {
	Detector analytics.Detector
	// Labels of the detector, and how many of them a finding matched.
	Labels, Detected int
	// Findings of the detector, and how many matched a label: a finding
	// of the label's detector (and, for Denials, actionable as the label
	// says) about its key between its start and its end plus slack.
	Findings, Matched int
	// Delays from each detected label's start to its first finding.
	Delays []time.Duration
}

// Precision is the share of findings that matched a label (1 with none).
func (s Score) Precision() float64 {
	if s.Findings == 0 {
		return 1
	}
	return float64(s.Matched) / float64(s.Findings)
}

// Recall is the share of labels found (1 with none).
func (s Score) Recall() float64 {
	if s.Labels == 0 {
		return 1
	}
	return float64(s.Detected) / float64(s.Labels)
}

// Delay is a quantile of the time to detect (0 without a detection).
func (s Score) Delay(q float64) time.Duration {
	if len(s.Delays) == 0 {
		return 0
	}
	d := slices.Sorted(slices.Values(s.Delays))
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// KindScore is how many anomalies of a kind were injected, and found.
type KindScore struct {
	Kind             Kind
	Labels, Detected int
	// Reasons counts the reason of each label's first finding.
	Reasons map[analytics.Reason]int
}

// Report is the detectors' result on a trace.
type Report struct {
	Keys, Minutes, Commits int
	Scores                 []Score // in analytics.Detectors order
	// Kinds counts each kind of anomaly injected, and found.
	Kinds []KindScore
	// Missed are the labels no finding matched; False the findings that
	// matched no label (the first hundred).
	Missed []Label
	False  []analytics.KeyFinding
}

// Evaluate replays the trace into a store with params p, minute by minute,
// ticking after each, and scores the findings against the labels.
func Evaluate(t *Trace, p analytics.Params) Report {
	store := analytics.NewStore(p, len(t.keys))
	scores := map[analytics.Detector]*Score{}
	for _, d := range analytics.Detectors {
		scores[d] = &Score{Detector: d}
	}
	labels := map[string][]Label{}
	for _, l := range t.Labels {
		labels[l.Key] = append(labels[l.Key], l)
		scores[l.Detector].Labels++
	}
	detected := map[Label]analytics.Reason{}
	report := Report{Keys: len(t.keys)}
	judge := func(key string, f analytics.Finding, at time.Time) {
		s := scores[f.Detector]
		s.Findings++
		for _, l := range labels[key] {
			if l.Detector != f.Detector || at.Before(l.Start) || at.After(l.End.Add(slack[l.Detector])) ||
				l.Detector == analytics.Denials && l.Actionable != f.Actionable {
				continue
			}
			s.Matched++
			if _, ok := detected[l]; !ok {
				detected[l] = f.Reason
				s.Detected++
				s.Delays = append(s.Delays, at.Sub(l.Start))
			}
			return
		}
		if len(report.False) < 100 {
			report.False = append(report.False, analytics.KeyFinding{KeyID: key, Finding: f})
		}
	}
	t.Replay(func(at time.Time, minutes []KeyMinute) {
		report.Minutes++
		for _, km := range minutes {
			report.Commits++
			for _, f := range store.Commit(km.Key, km.Minute) {
				judge(km.Key, f, at)
			}
		}
		closed := at.Add(time.Minute)
		for _, kf := range store.Tick(closed) {
			judge(kf.KeyID, kf.Finding, closed)
		}
	})
	kinds := map[Kind]*KindScore{}
	for _, l := range t.Labels {
		ks := kinds[l.Kind]
		if ks == nil {
			ks = &KindScore{Kind: l.Kind, Reasons: map[analytics.Reason]int{}}
			kinds[l.Kind] = ks
		}
		ks.Labels++
		if reason, ok := detected[l]; ok {
			ks.Detected++
			ks.Reasons[reason]++
		} else {
			report.Missed = append(report.Missed, l)
		}
	}
	for _, kind := range allKinds {
		if ks := kinds[kind]; ks != nil {
			report.Kinds = append(report.Kinds, *ks)
		}
	}
	for _, d := range analytics.Detectors {
		report.Scores = append(report.Scores, *scores[d])
	}
	return report
}

// Table prints the scores for a person.
func (r Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d keys, %d minutes, %d key-minutes committed\n", r.Keys, r.Minutes, r.Commits)
	fmt.Fprintf(&b, "%-12s %6s %8s %8s %6s %9s %6s %10s %10s\n",
		"detector", "labels", "detected", "findings", "false", "precision", "recall", "ttd p50", "ttd p90")
	for _, s := range r.Scores {
		fmt.Fprintf(&b, "%-12s %6d %8d %8d %6d %9.3f %6.3f %10s %10s\n", s.Detector, s.Labels, s.Detected,
			s.Findings, s.Findings-s.Matched, s.Precision(), s.Recall(), s.Delay(0.5), s.Delay(0.9))
	}
	for _, k := range r.Kinds {
		var reasons []string
		for reason, n := range k.Reasons {
			reasons = append(reasons, fmt.Sprintf("%s %d", reason, n))
		}
		slices.Sort(reasons)
		fmt.Fprintf(&b, "  %-24s %3d of %3d found (%s)\n", k.Kind, k.Detected, k.Labels, strings.Join(reasons, ", "))
	}
	return b.String()
}
