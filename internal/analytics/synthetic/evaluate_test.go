package synthetic

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/analytics"
)

// The detectors' defaults must keep finding what they should and little
// else: precision ≥ 0.95 and recall ≥ 0.9 on every detector.
func TestDetectorsOnSmallTrace(t *testing.T) {
	g := NewWithT(t)
	r := Evaluate(Generate(Small()), analytics.DefaultParams())
	logReport(t, r)
	for _, s := range r.Scores {
		g.Expect(s.Labels).To(BeNumerically(">=", 5), "%s has labels to find", s.Detector)
		g.Expect(s.Precision()).To(BeNumerically(">=", 0.95), "%s precision", s.Detector)
		g.Expect(s.Recall()).To(BeNumerically(">=", 0.9), "%s recall", s.Detector)
	}
}

func TestTracesReplayTheSame(t *testing.T) {
	g := NewWithT(t)
	c := Small()
	c.Keys, c.Days = 20, 1
	trace := Generate(c)
	var first, second []KeyMinute
	trace.Replay(func(_ time.Time, m []KeyMinute) { first = append(first, m...) })
	Generate(c).Replay(func(_ time.Time, m []KeyMinute) { second = append(second, m...) })
	g.Expect(second).To(Equal(first))
	g.Expect(first).NotTo(BeEmpty())
	for _, km := range first {
		g.Expect(km.Validate()).To(Succeed())
	}
}

// BenchmarkDetectors scores the detectors on a week of several hundred
// keys' traffic (`make bench`), reporting each detector's figures.
func BenchmarkDetectors(b *testing.B) {
	var r Report
	for b.Loop() {
		r = Evaluate(Generate(Evaluation()), analytics.DefaultParams())
	}
	logReport(b, r)
	for _, s := range r.Scores {
		b.ReportMetric(s.Precision(), string(s.Detector)+"-precision")
		b.ReportMetric(s.Recall(), string(s.Detector)+"-recall")
		b.ReportMetric(s.Delay(0.5).Minutes(), string(s.Detector)+"-ttd-p50-min")
		b.ReportMetric(s.Delay(0.9).Minutes(), string(s.Detector)+"-ttd-p90-min")
	}
}

// logReport prints the table, and what was missed or found falsely.
func logReport(tb testing.TB, r Report) {
	tb.Helper()
	tb.Log("\n" + r.Table())
	for _, l := range r.Missed {
		tb.Logf("missed: %s %s from %s", l.Key, l.Kind, l.Start.Format("Mon 15:04"))
	}
	for _, f := range r.False {
		tb.Logf("false: %s %s %s: %s", f.KeyID, f.Reason, f.At.Format("Mon 15:04"), f.Message)
	}
}
