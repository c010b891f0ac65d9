package analytics

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// A replica's report that left keys out (someone filled its room with
// key IDs, say) hides their use: a key missing from such minutes is not
// silent, nor did its hour drop. Once the picture is complete again,
// silence counts from then.
func TestIncompleteMinutesAreNoAbsence(t *testing.T) {
	t.Run("silence", func(t *testing.T) {
		g := NewWithT(t)
		s, end := warmed()
		crowded := end.Add(12 * time.Hour)
		var found []Finding
		for at := end; at.Before(crowded); at = at.Add(time.Minute) {
			s.Incomplete(at)
			for _, f := range s.Tick(at) {
				found = append(found, f.Finding)
			}
		}
		g.Expect(found).To(BeEmpty(), "hidden, not silent")

		found = idle(s, crowded, crowded.Add(12*time.Hour))
		g.Expect(reasonsOf(found)).To(Equal([]Reason{FellSilent}), "absent from complete reports")
		g.Expect(found[0].At).To(Equal(crowded.Add(6*time.Hour - time.Minute)))
		g.Expect(found[0].Message).To(ContainSubstring("since " + end.Add(-time.Minute).Format("2006-01-02 15:04 UTC")))
	})
	t.Run("volume drop", func(t *testing.T) {
		g := NewWithT(t)
		s := NewStore(DefaultParams(), 10)
		var found []Finding
		for at := monday; at.Before(monday.Add(5 * 24 * time.Hour)); at = at.Add(time.Minute) {
			n := cycle(at)
			if at.Sub(monday) >= 4*24*time.Hour && at.Hour() == 10 {
				n = 1 // the rest was left out of the reports
				s.Incomplete(at)
			}
			found = append(found, s.Commit("k", Minute{Start: at, Permits: n})...)
		}
		g.Expect(found).To(BeEmpty())
	})
	t.Run("an incomplete minute elsewhere changes nothing", func(t *testing.T) {
		g := NewWithT(t)
		s := NewStore(DefaultParams(), 10)
		var found []Finding
		for at := monday; at.Before(monday.Add(5 * 24 * time.Hour)); at = at.Add(time.Minute) {
			n := cycle(at)
			if at.Sub(monday) >= 4*24*time.Hour && at.Hour() == 10 {
				n = 1
			}
			if at.Sub(monday) >= 4*24*time.Hour && at.Hour() == 12 {
				s.Incomplete(at)
			}
			found = append(found, s.Commit("k", Minute{Start: at, Permits: n})...)
		}
		g.Expect(reasonsOf(found)).To(Equal([]Reason{VolumeDrop}))
	})
}
