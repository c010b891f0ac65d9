package soak

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestTheWindowOfAChangeAcceptsEitherVerdict(t *testing.T) {
	g := NewWithT(t)
	at := func(s int) time.Time { return time.Unix(1000+int64(s), 0) }
	revoked := history{{from: at(10), to: at(12), permit: false}}
	cases := []struct {
		name         string
		sent, came   int
		permit, deny bool
	}{
		{"before the change", 1, 2, true, false},
		{"answered as the change was made", 9, 10, true, true},
		{"inside the window", 11, 11, true, true},
		{"sent at its end", 12, 13, true, true},
		{"after the window", 13, 14, false, true},
	}
	for _, c := range cases {
		permit, deny := revoked.possible(at(c.sent), at(c.came))
		g.Expect([]bool{permit, deny}).To(Equal([]bool{c.permit, c.deny}), c.name)
	}
	suspendedThenResumed := history{{from: at(10), to: at(11), permit: false}, {from: at(20), to: at(21), permit: true}}
	permit, deny := suspendedThenResumed.possible(at(15), at(16))
	g.Expect([]bool{permit, deny}).To(Equal([]bool{false, true}), "between the two changes")
	permit, deny = suspendedThenResumed.possible(at(5), at(25))
	g.Expect([]bool{permit, deny}).To(Equal([]bool{true, true}), "across both")
	permit, deny = verdicts(history{}, history{{from: at(10), to: at(10), permit: false}}, at(11), at(12))
	g.Expect([]bool{permit, deny}).To(Equal([]bool{false, true}), "a secret past its grace on an active key")
}
