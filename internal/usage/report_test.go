package usage

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

const (
	idA = "aaaaaaaaaaaaaaaa"
	idB = "bbbbbbbbbbbbbbbb"
)

var (
	day1 = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	day2 = day1.AddDate(0, 0, 1)
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	g := NewWithT(t)
	r := Report{
		ReportedAt: day1.Add(90*time.Minute + 500*time.Millisecond),
		Keys:       map[string]Entry{idA: {Used: 3, Remaining: 7, ResetAt: day2.In(time.FixedZone("x", 3600))}},
	}
	data, err := Encode(r)
	g.Expect(err).NotTo(HaveOccurred())
	// RFC 3339 at second precision, in UTC: what the design promises
	// whoever reads the ConfigMap.
	g.Expect(string(data)).To(ContainSubstring(`"reportedAt":"2026-11-23T01:30:00Z"`))
	g.Expect(string(data)).To(ContainSubstring(`"resetAt":"2026-11-24T00:00:00Z"`))
	back, err := Decode(data)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(back.ReportedAt).To(BeTemporally("==", day1.Add(90*time.Minute)))
	g.Expect(back.Keys).To(HaveKeyWithValue(idA, HaveField("Used", int64(3))))
}

func TestDecodeRefusesWhatAVerifierWouldNotWrite(t *testing.T) {
	tooMany := map[string]Entry{}
	for i := range MaxKeys + 1 {
		tooMany[fmt.Sprintf("%016d", i)] = Entry{ResetAt: day2}
	}
	big, _ := json.Marshal(Report{ReportedAt: day1, Keys: tooMany})
	for name, data := range map[string]string{
		"not JSON":          `{`,
		"no reportedAt":     `{"keys":{}}`,
		"unknown field":     `{"reportedAt":"2026-11-23T00:00:00Z","keys":{},"secret":"x"}`,
		"bad key ID":        `{"reportedAt":"2026-11-23T00:00:00Z","keys":{"AB":{"used":1,"remaining":1,"resetAt":"2026-11-24T00:00:00Z"}}}`,
		"negative":          `{"reportedAt":"2026-11-23T00:00:00Z","keys":{"` + idA + `":{"used":-1,"remaining":1,"resetAt":"2026-11-24T00:00:00Z"}}}`,
		"no resetAt":        `{"reportedAt":"2026-11-23T00:00:00Z","keys":{"` + idA + `":{"used":1,"remaining":1}}}`,
		"more than MaxKeys": string(big),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(data))
			NewWithT(t).Expect(err).To(HaveOccurred())
		})
	}
}

func TestAFullReportStaysFarBelowAnObjectsLimit(t *testing.T) {
	g := NewWithT(t)
	entries := map[string]Entry{}
	for i := range MaxKeys {
		entries[fmt.Sprintf("%016d", i)] = Entry{Used: 999_999_999_999, Remaining: 999_999_999_999, ResetAt: day2}
	}
	data, err := Encode(Report{ReportedAt: day1, Keys: entries})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(data)).To(BeNumerically("<", 300<<10))
	_, err = Encode(Report{ReportedAt: day1, Keys: map[string]Entry{idA: {}, idB: {}}})
	g.Expect(err).NotTo(HaveOccurred())
}

func TestNewer(t *testing.T) {
	e := func(used int64, reset time.Time) Entry { return Entry{Used: used, ResetAt: reset} }
	at := func(m int) time.Time { return day1.Add(time.Duration(m) * time.Minute) }
	for name, c := range map[string]struct {
		a, b     Entry
		aAt, bAt time.Time
		aIsNewer bool
	}{
		"a later period wins over a later report": {e(1, day2), e(50, day1), at(1), at(2), true},
		"an earlier period loses":                 {e(50, day1), e(1, day2), at(2), at(1), false},
		"same period: the later report":           {e(1, day2), e(5, day2), at(2), at(1), true},
		"same period and time: more spent":        {e(6, day2), e(5, day2), at(1), at(1), true},
		"equal":                                   {e(5, day2), e(5, day2), at(1), at(1), false},
	} {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(Newer(c.a, c.b, c.aAt, c.bAt)).To(Equal(c.aIsNewer))
		})
	}
}

func TestChanged(t *testing.T) {
	g := NewWithT(t)
	before := Report{Keys: map[string]Entry{idA: {Used: 1, ResetAt: day2}, idB: {Used: 1, ResetAt: day2}}}
	after := Report{Keys: map[string]Entry{idA: {Used: 2, ResetAt: day2}, "cccccccccccccccc": {ResetAt: day2}}}
	ids := Changed(before, after)
	slices.Sort(ids)
	g.Expect(ids).To(Equal([]string{idA, idB, "cccccccccccccccc"}))
	g.Expect(Changed(after, after)).To(BeEmpty())
	g.Expect(Changed(Report{}, Report{})).To(BeEmpty())
}

func TestName(t *testing.T) {
	g := NewWithT(t)
	name, err := Name("Verifier-7d9f")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(name).To(Equal("keyward-usage-verifier-7d9f"))
	_, err = Name("")
	g.Expect(err).To(HaveOccurred())
	_, err = Name(strings.Repeat("a", 250))
	g.Expect(err).To(HaveOccurred())
}

// FuzzDecode: whatever a ConfigMap holds, Decode either refuses it or
// returns a report that encodes again.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"reportedAt":"2026-11-23T00:00:00Z","keys":{"` + idA + `":{"used":1,"remaining":2,"resetAt":"2026-11-24T00:00:00Z"}}}`))
	f.Add([]byte(`{"reportedAt":"2026-11-23T00:00:00Z","keys":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			return
		}
		if _, err := Encode(r); err != nil {
			t.Fatalf("decoded report does not encode: %v", err)
		}
	})
}
