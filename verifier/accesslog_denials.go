package verifier

import (
	"net/netip"
	"sync"
	"time"

	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/audit"
)

// denialCounter counts denials per (reason, source network) over an
// interval and writes one line per group when it ends. The interval starts
// with the first denial after a quiet spell and ends by a timer, so an idle
// verifier runs nothing; a denial that arrives after the end (a late
// timer, or a test's clock) closes the interval first.
type denialCounter struct {
	interval  time.Duration
	maxGroups int
	write     func(audit.Denials)
	// afterFunc schedules the end of an interval (time.AfterFunc; tests
	// end intervals by hand).
	afterFunc func(time.Duration, func()) func()

	mu  sync.Mutex
	end time.Time
	// seq numbers the intervals, so that a timer that fires after
	// its interval was closed by a denial leaves the next one alone.
	seq    uint64
	stop   func()
	groups map[denialGroup]*audit.Denials
	other  audit.Denials
}

type denialGroup struct {
	reason  Reason
	network netip.Prefix
}

func newDenialCounter(interval time.Duration, maxGroups int, write func(audit.Denials)) *denialCounter {
	return &denialCounter{
		interval: interval, maxGroups: maxGroups, write: write,
		groups: make(map[denialGroup]*audit.Denials, maxGroups),
		afterFunc: func(d time.Duration, f func()) func() {
			t := time.AfterFunc(d, f)
			return func() { t.Stop() }
		},
	}
}

// count adds a denial and reports whether it is its group's first in the
// interval, which the caller writes in full.
func (c *denialCounter) count(now time.Time, addr netip.Addr, d Decision) bool {
	g := denialGroup{reason: d.Reason}
	if addr.IsValid() {
		g.network = analytics.NetworkOf(addr)
	}
	c.mu.Lock()
	if !c.end.IsZero() && !now.Before(c.end) {
		c.flushLocked()
	}
	if c.end.IsZero() {
		c.end = now.Add(c.interval)
		seq := c.seq
		c.stop = c.afterFunc(c.interval, func() { c.flushInterval(seq) })
	}
	if n := c.groups[g]; n != nil {
		n.Count++
		n.Last = now
		if n.KeyID == "" && d.entry != nil {
			n.KeyID = d.entry.Record.KeyID
		}
		c.mu.Unlock()
		return false
	}
	if len(c.groups) >= c.maxGroups {
		if c.other.Count == 0 {
			c.other.First = now
		}
		c.other.Count++
		c.other.Last = now
		c.mu.Unlock()
		return false
	}
	n := &audit.Denials{Action: audit.DenialsCounted, Decision: string(d.Result), Reason: string(d.Reason), Count: 1, First: now, Last: now}
	if g.network.IsValid() {
		n.Network = g.network.String()
	}
	if d.entry != nil {
		n.KeyID = d.entry.Record.KeyID
	}
	c.groups[g] = n
	c.mu.Unlock()
	return true
}

// flush ends the current interval.
func (c *denialCounter) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
}

// flushInterval ends interval seq, if it is still the current one.
func (c *denialCounter) flushInterval(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seq == seq {
		c.flushLocked()
	}
}

// flushLocked writes under the lock, so that an interval's lines are never
// overtaken by the next interval's.
func (c *denialCounter) flushLocked() {
	if c.end.IsZero() {
		return
	}
	at := c.end
	for g, n := range c.groups {
		// A group denied once has said everything on its own line.
		if n.Count > 1 {
			n.Time = at
			c.write(*n)
		}
		delete(c.groups, g)
	}
	if c.other.Count > 0 {
		c.write(audit.Denials{Time: at, Action: audit.DenialsOther, Count: c.other.Count, First: c.other.First, Last: c.other.Last})
	}
	c.other = audit.Denials{}
	c.stop()
	c.end, c.stop = time.Time{}, nil
	c.seq++
}
