package verifier

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
)

// flood is one kind of denied traffic: request i of it.
type flood struct {
	name   string
	reason Reason
	send   func(f *fixture, k *issued, i int, env access.Environment) Decision
}

var floods = []flood{
	{"unknown key", ReasonUnknownKey, func(f *fixture, _ *issued, _ int, env access.Environment) Decision {
		return f.decide(mustGenerate(f.t, "").Plaintext(), investigationsRead, env)
	}},
	{"bad checksum", ReasonMalformedCredential, func(f *fixture, _ *issued, _ int, env access.Environment) Decision {
		return f.decide(badChecksum(mustGenerate(f.t, "").Plaintext()), investigationsRead, env)
	}},
	{"wrong secret for a valid key ID", "", func(f *fixture, k *issued, _ int, env access.Environment) Decision {
		return f.decide(mustGenerate(f.t, k.key.ID()).Plaintext(), investigationsRead, env)
	}},
	{"no credential", ReasonMissingCredential, func(f *fixture, _ *issued, _ int, env access.Environment) Decision {
		return noCredential(f, env)
	}},
}

func mustGenerate(t *testing.T, id string) keys.Key {
	t.Helper()
	k, err := keys.Generate(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// badChecksum changes the key's last character, which is its checksum's.
func badChecksum(plain string) string {
	last := plain[len(plain)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return plain[:len(plain)-1] + string(repl)
}

// floodTrail is what a flood wrote in the audit trail.
type floodTrail struct {
	bytesPerSecond float64
	// linesPerInterval is the most lines one interval wrote, and reasons
	// the most reasons of one interval.
	linesPerInterval, reasons int
}

// floodTrailOf sends rate requests a second of one flood for three
// intervals, from addresses of one network or, with spread, of every
// network, and measures the trail it wrote.
func floodTrailOf(t *testing.T, fl flood, rate int, spread bool) floodTrail {
	const interval, intervals = 10 * time.Second, 3
	f, trail, _ := newTrailFixture(t, AccessLog{Interval: interval})
	k := f.issue(investigationsRead)
	f.publish(k)
	n := rate * int(interval/time.Second) * intervals
	step := interval * intervals / time.Duration(n)
	for i := range n {
		a := fmt.Sprintf("203.0.113.%d", i%256)
		if spread {
			a = fmt.Sprintf("%d.%d.%d.1", 11+i%200, (i/200)%256, (i/51200)%256)
		}
		d := fl.send(f, k, i, from(a))
		if d.Result == Permit || (fl.reason != "" && d.Reason != fl.reason) {
			t.Fatalf("%s: request %d: %s (%s)", fl.name, i, d.Result, d.Reason)
		}
		f.clock.Step(step)
	}
	g := NewWithT(t)
	g.Expect(f.v.Close()).To(Succeed())
	var m floodTrail
	lines := map[int]int{}
	reasons := map[int]map[string]bool{}
	for _, l := range parseTrail(t, trail.String()) {
		at := l.Time
		if l.Action != audit.Denied {
			at = l.First
		}
		i := int(at.Sub(t0) / interval)
		lines[i]++
		if reasons[i] == nil {
			reasons[i] = map[string]bool{}
		}
		reasons[i][l.Reason] = true
	}
	for i := range lines {
		m.linesPerInterval = max(m.linesPerInterval, lines[i])
		m.reasons = max(m.reasons, len(reasons[i]))
	}
	m.bytesPerSecond = float64(len(trail.String())) / (interval * intervals).Seconds()
	return m
}

// The audit trail of a flood is bounded per interval, whatever its rate: a
// flood from one network writes two lines per reason it is refused for,
// and a flood from every network of the internet at most two per group of
// the interval's bound and one for the rest.
func TestAFloodWritesABoundedTrail(t *testing.T) {
	for _, fl := range floods {
		t.Run(fl.name, func(t *testing.T) {
			g := NewWithT(t)
			slow := floodTrailOf(t, fl, 50, false)
			fast := floodTrailOf(t, fl, 1000, false)
			spread := floodTrailOf(t, fl, 1000, true)
			t.Logf("%s flood, audit bytes/s: from one /24 %.0f at 50 req/s and %.0f at 1,000 req/s (%d lines an interval at most); from every network at 1,000 req/s %.0f (%d lines)",
				fl.name, slow.bytesPerSecond, fast.bytesPerSecond, fast.linesPerInterval, spread.bytesPerSecond, spread.linesPerInterval)
			for _, m := range []floodTrail{slow, fast} {
				g.Expect(m.reasons).To(BeNumerically("<=", 3), "reasons of one flood: its own, and the limiter's and the backoff's")
				g.Expect(m.linesPerInterval).To(BeNumerically("<=", 2*m.reasons))
			}
			g.Expect(fast.bytesPerSecond).To(BeNumerically("<", 400))
			g.Expect(spread.linesPerInterval).To(BeNumerically("<=", 2*DefaultMaxDenialGroups+1))
		})
	}
}
