package verifier

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gstruct"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// trailLine is any line of the verifier's trail, as a reader parses it.
type trailLine struct {
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	Reason   string    `json:"reason"`
	Decision string    `json:"decision"`
	KeyID    string    `json:"keyID"`
	Source   string    `json:"source"`
	Network  string    `json:"network"`
	Count    int64     `json:"count"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Secret   string    `json:"secret"`
}

func parseTrail(t *testing.T, s string) []trailLine {
	t.Helper()
	var lines []trailLine
	for sc := bufio.NewScanner(strings.NewReader(s)); sc.Scan(); {
		var l trailLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

// timers stands in for time.AfterFunc, so that a test ends intervals when
// it says.
type timers struct{ pending []func() }

func (m *timers) afterFunc(_ time.Duration, f func()) func() {
	m.pending = append(m.pending, f)
	return func() {}
}

// fire runs every timer scheduled so far, the way late timers run.
func (m *timers) fire() {
	p := m.pending
	m.pending = nil
	for _, f := range p {
		f()
	}
}

func newTrailFixture(t *testing.T, c AccessLog) (*fixture, *testutil.SyncBuffer, *timers) {
	trail := &testutil.SyncBuffer{}
	c.W = audit.NewWriter(trail)
	f := newFixture(t, Options{Audit: c})
	tm := &timers{}
	f.v.audit.denials.afterFunc = tm.afterFunc
	return f, trail, tm
}

func from(a string) access.Environment { return access.Environment{Address: addr(a)} }

func noCredential(f *fixture, env access.Environment) Decision {
	return f.v.Decide(context.Background(), Request{CredentialProblem: CredentialMissing, Env: env})
}

const investigationsRead = "acme/payments/investigations:read"

func TestDenialsAreCountedPerReasonAndNetworkWhileFirstUsesStayExact(t *testing.T) {
	g := NewWithT(t)
	f, trail, tm := newTrailFixture(t, AccessLog{Interval: 10 * time.Second})
	k := f.issue(investigationsRead)
	other := f.issue(investigationsRead)
	f.publish(k)
	f.publish(other)
	unknown, err := keys.Generate("")
	g.Expect(err).NotTo(HaveOccurred())

	// An interval: a flood of one unknown key from one /24, a few
	// denials from elsewhere, and two keys used for the first time in the
	// middle of it.
	for i := range 500 {
		g.Expect(f.decide(unknown.Plaintext(), investigationsRead, from(fmt.Sprintf("203.0.113.%d", i%250))).Reason).To(Equal(ReasonUnknownKey))
		if i == 100 {
			g.Expect(f.decide(k.key.Plaintext(), investigationsRead, from("10.1.1.1")).Result).To(Equal(Permit))
			g.Expect(f.decide(other.key.Plaintext(), investigationsRead, from("10.1.1.1")).Result).To(Equal(Permit))
		}
		f.clock.Step(10 * time.Millisecond)
	}
	g.Expect(noCredential(f, from("198.51.100.7")).Reason).To(Equal(ReasonMissingCredential))
	g.Expect(f.decide(unknown.Plaintext(), investigationsRead, from("2001:db8:1:2::9")).Reason).To(Equal(ReasonUnknownKey))
	g.Expect(f.decide(unknown.Plaintext(), investigationsRead, from("2001:db8:1:3::9")).Reason).To(Equal(ReasonUnknownKey))

	lines := parseTrail(t, trail.String())
	g.Expect(lines).To(HaveLen(5), "while the interval runs: the first denial of each group and the two first uses")
	g.Expect(lines[0]).To(gstruct.MatchFields(gstruct.IgnoreExtras, gstruct.Fields{"Action": Equal(audit.Denied), "Reason": Equal("unknown_key"), "Source": Equal("203.0.113.0")}))
	g.Expect(lines).To(ContainElement(gstruct.MatchFields(gstruct.IgnoreExtras, gstruct.Fields{"Action": Equal(audit.FirstUse), "KeyID": Equal(k.rec.KeyID), "Secret": Equal("current")})))
	g.Expect(lines).To(ContainElement(gstruct.MatchFields(gstruct.IgnoreExtras, gstruct.Fields{"Action": Equal(audit.FirstUse), "KeyID": Equal(other.rec.KeyID)})))
	g.Expect(lines).To(ContainElement(gstruct.MatchFields(gstruct.IgnoreExtras, gstruct.Fields{"Action": Equal(audit.Denied), "Reason": Equal("missing_credential"), "Source": Equal("198.51.100.7")})))
	g.Expect(lines).To(ContainElement(gstruct.MatchFields(gstruct.IgnoreExtras, gstruct.Fields{"Action": Equal(audit.Denied), "Reason": Equal("unknown_key"), "Source": Equal("2001:db8:1:2::9")})))

	// The timer ends the interval: one counted line for the group denied
	// more than once; the others said everything on their own line.
	tm.fire()
	lines = parseTrail(t, trail.String())[5:]
	g.Expect(lines).To(HaveLen(2))
	g.Expect(lines).To(ContainElement(gstruct.MatchFields(gstruct.IgnoreExtras, gstruct.Fields{
		"Action": Equal(audit.DenialsCounted), "Reason": Equal("unknown_key"), "Decision": Equal("Deny"),
		"Network": Equal("203.0.113.0/24"), "Count": BeEquivalentTo(500),
		"First": Equal(t0), "Last": Equal(t0.Add(499 * 10 * time.Millisecond)), "KeyID": BeEmpty(),
	})))
	g.Expect(lines).To(ContainElement(gstruct.MatchFields(gstruct.IgnoreExtras, gstruct.Fields{
		"Action": Equal(audit.DenialsCounted), "Network": Equal("2001:db8:1::/48"), "Count": BeEquivalentTo(2),
	})), "an IPv6 client's network is its /48")

	// The next interval starts afresh: its first denial is written whole.
	g.Expect(f.decide(unknown.Plaintext(), investigationsRead, from("203.0.113.1")).Reason).To(Equal(ReasonUnknownKey))
	lines = parseTrail(t, trail.String())[7:]
	g.Expect(lines).To(ConsistOf(gstruct.MatchFields(gstruct.IgnoreExtras, gstruct.Fields{"Action": Equal(audit.Denied), "Source": Equal("203.0.113.1")})))

	// A permitted key is never used "for the first time" twice.
	g.Expect(f.decide(k.key.Plaintext(), investigationsRead, from("10.1.1.1")).Result).To(Equal(Permit))
	g.Expect(strings.Count(trail.String(), `"first_use"`)).To(Equal(2))
	g.Expect(trail.String()).NotTo(Or(ContainSubstring(k.key.Plaintext()), ContainSubstring(unknown.Plaintext())))
}

// Guessing at a key names it: the counted line carries the key ID one of
// its denials was about, public as it is, and never a secret.
func TestCountedWrongSecretsNameTheirKey(t *testing.T) {
	g := NewWithT(t)
	f, trail, _ := newTrailFixture(t, AccessLog{Interval: time.Second})
	k := f.issue(investigationsRead)
	f.publish(k)
	var guesses []string
	for i := range 20 {
		wrong, err := keys.Generate(k.key.ID())
		g.Expect(err).NotTo(HaveOccurred())
		guesses = append(guesses, wrong.Plaintext())
		g.Expect(f.decide(wrong.Plaintext(), investigationsRead, from(fmt.Sprintf("192.0.2.%d", i))).Result).NotTo(Equal(Permit))
	}
	// A denial after the end closes the interval, whatever became of its
	// timer.
	f.clock.Step(time.Second)
	noCredential(f, from("192.0.2.1"))

	var counted []trailLine
	for _, l := range parseTrail(t, trail.String()) {
		if l.Action == audit.DenialsCounted {
			counted = append(counted, l)
		}
	}
	var total int64
	for _, l := range counted {
		g.Expect(l.KeyID).To(Equal(k.rec.KeyID))
		g.Expect(l.Network).To(Equal("192.0.2.0/24"))
		total += l.Count
	}
	g.Expect(total).To(BeNumerically(">=", 19), "every denial is counted in one group or another (invalid secret, then backoff)")
	for _, guess := range guesses {
		g.Expect(trail.String()).NotTo(ContainSubstring(guess))
	}
}

// Groups are bounded per interval: a flood from many networks adds one
// line, with the count of everything beyond the bound.
func TestDenialsBeyondTheBoundAreCountedTogether(t *testing.T) {
	g := NewWithT(t)
	f, trail, tm := newTrailFixture(t, AccessLog{Interval: time.Second, MaxGroups: 3})
	for i := range 40 {
		for range 5 {
			noCredential(f, from(fmt.Sprintf("10.%d.0.1", i)))
		}
	}
	f.v.Close()
	lines := parseTrail(t, trail.String())
	byAction := map[string][]trailLine{}
	for _, l := range lines {
		byAction[l.Action] = append(byAction[l.Action], l)
	}
	g.Expect(byAction[audit.Denied]).To(HaveLen(3))
	g.Expect(byAction[audit.DenialsCounted]).To(HaveLen(3))
	for _, l := range byAction[audit.DenialsCounted] {
		g.Expect(l.Count).To(BeEquivalentTo(5))
	}
	g.Expect(byAction[audit.DenialsOther]).To(ConsistOf(gstruct.MatchFields(gstruct.IgnoreExtras, gstruct.Fields{"Count": BeEquivalentTo(37 * 5), "Reason": BeEmpty()})))
	g.Expect(lines).To(HaveLen(7), "Close writes what was counted")
	tm.fire()
	g.Expect(parseTrail(t, trail.String())).To(HaveLen(7), "a timer of an interval already written writes nothing")
}

// A negative interval keeps the old trail: a line per denial.
func TestDenialsCanBeWrittenOneLineEach(t *testing.T) {
	g := NewWithT(t)
	trail := &testutil.SyncBuffer{}
	f := newFixture(t, Options{Audit: AccessLog{W: audit.NewWriter(trail), Interval: -1}})
	for range 7 {
		noCredential(f, from("10.0.0.1"))
	}
	g.Expect(strings.Count(trail.String(), "\n")).To(Equal(7))
}
