package ratelimit

import (
	"math"
	"math/bits"
	"time"
)

// SlidingSlots is how many slots a SlidingWindow's ring holds. A slot
// lasts ceil(Period / (SlidingSlots-1)), so every window of Period spans
// at most SlidingSlots of them. A power of two: slot n lives at
// n & (SlidingSlots-1).
const SlidingSlots = 32

const slotMask = SlidingSlots - 1

// State is everything one bucket stores; its zero value is a bucket
// nobody has used. Times are Unix nanoseconds. Which fields a strategy
// uses:
//
//   - FixedWindow: Start (the window's start), Count (cost spent in it).
//   - Quota: Start and End (the calendar period), Count.
//   - TokenBucket: Start (time of the last refill), Count and Frac: the
//     tokens missing from a full bucket are Count − Frac/Period, with
//     0 ≤ Frac < Period, so Count is the deficit rounded up and refilling
//     is exact integer arithmetic.
//   - SlidingWindow: Start (the number of the newest slot, time ÷ slot
//     length), Slots (cost spent per slot; slot n lives at n mod
//     SlidingSlots).
type State struct {
	Start int64
	End   int64
	Count int64
	Frac  int64
	Slots [SlidingSlots]int64
}

// Take is the whole rule of one bucket: it brings s to now, spends cost
// when it fits, and returns the new state with the Result. When the cost
// does not fit, the returned state spends nothing; it may still differ
// from s (a window rolled over, tokens refilled), in a way that changes
// nothing a later Take decides. A store that keeps State and calls Take
// under a lock is a correct store for one bucket.
func Take(l Limit, s State, now time.Time, cost int64) (State, Result, error) {
	if err := l.Validate(); err != nil {
		return s, Result{}, err
	}
	r := Request{Key: "-", Limit: l, Cost: cost}
	if err := r.validate(); err != nil {
		return s, Result{}, err
	}
	t, err := unixNanos(now)
	if err != nil {
		return s, Result{}, err
	}
	c := cell{start: s.Start, end: s.End, count: s.Count, frac: s.Frac}
	ring := s.Slots
	advance(&l, &c, &ring, t)
	allowed := cost <= available(&l, &c, &ring, t)
	if allowed {
		consume(&l, &c, &ring, cost)
	}
	res := result(&l, &c, &ring, t, allowed, cost)
	return State{Start: c.start, End: c.end, Count: c.count, Frac: c.frac, Slots: ring}, res, nil
}

// cell is State without the ring, so that stores can keep the ring only
// for the strategy that needs it.
type cell struct {
	start, end, count, frac int64
}

// neverFull is the fullAt of a bucket that holds nothing.
const neverFull = math.MinInt64

// slotLength is rounded up so that SlidingSlots-1 slots cover at least a
// Period, which is what keeps the window from admitting more than Limit.
func slotLength(p time.Duration) int64 {
	return (int64(p) + SlidingSlots - 2) / (SlidingSlots - 1)
}

// advance brings c to now: it rolls windows, refills tokens and clears
// slots that left the ring. What it changes does not change any later
// decision, so a store may keep the result even when nothing is spent.
// A now earlier than the state's own time (clocks read on different
// goroutines) counts as the state's time: nothing is refilled or rolled.
func advance(l *Limit, c *cell, ring *[SlidingSlots]int64, now int64) {
	switch l.Strategy {
	case FixedWindow:
		p := int64(l.Period)
		if w := now - now%p; w > c.start {
			c.start, c.count = w, 0
		}
	case Quota:
		if c.end == 0 || now >= c.end {
			c.start, c.end = quotaPeriod(l.Refill, l.Location, now)
			c.count = 0
		}
	case TokenBucket:
		if now <= c.start {
			return
		}
		dt := uint64(now - c.start)
		c.start = now
		if c.count <= 0 {
			c.count, c.frac = 0, 0
			return
		}
		p, lim := uint64(l.Period), uint64(l.Limit)
		// need and refill are in 1/Period of a token.
		nh, nl := bits.Mul64(uint64(c.count), p)
		nl, borrow := bits.Sub64(nl, uint64(c.frac), 0)
		nh -= borrow
		rh, rl := bits.Mul64(dt, lim)
		if rh > nh || (rh == nh && rl >= nl) {
			c.count, c.frac = 0, 0
			return
		}
		// refill < need ≤ count·Period, so the quotient fits and rh < p.
		whole, rem := bits.Div64(rh, rl, p)
		frac := uint64(c.frac) + rem
		if frac >= p {
			frac -= p
			whole++
		}
		c.count -= int64(whole)
		c.frac = int64(frac)
	case SlidingWindow:
		k := now / slotLength(l.Period)
		if k <= c.start {
			return
		}
		if k-c.start >= SlidingSlots {
			*ring = [SlidingSlots]int64{}
		} else {
			for n := c.start + 1; n <= k; n++ {
				ring[n&slotMask] = 0
			}
		}
		c.start = k
	}
}

// oldestSlot is the number of the oldest slot a SlidingWindow counts at
// now: the slot holding now−Period counts whole, which is the
// conservative half of the approximation.
func oldestSlot(l *Limit, c *cell, now int64) int64 {
	lo := c.start - SlidingSlots + 1
	if t := now - int64(l.Period); t >= 0 {
		lo = max(lo, t/slotLength(l.Period))
	}
	return max(lo, 0)
}

// available is what may be spent at now, after advance. It is negative
// when a limit was lowered below what the bucket had already spent.
func available(l *Limit, c *cell, ring *[SlidingSlots]int64, now int64) int64 {
	if l.Strategy != SlidingWindow {
		return l.Capacity() - c.count
	}
	used := int64(0)
	for n := oldestSlot(l, c, now); n <= c.start; n++ {
		used += ring[n&slotMask]
	}
	return l.Limit - used
}

func consume(l *Limit, c *cell, ring *[SlidingSlots]int64, cost int64) {
	if l.Strategy == SlidingWindow {
		ring[c.start&slotMask] += cost
		return
	}
	c.count += cost
}

// fullAt is when the bucket will hold nothing worth keeping: from then on
// it decides exactly as a new bucket would. neverFull when it already
// holds nothing.
func fullAt(l *Limit, c *cell, ring *[SlidingSlots]int64, now int64) int64 {
	switch l.Strategy {
	case FixedWindow:
		if c.count > 0 {
			return c.start + int64(l.Period)
		}
	case Quota:
		if c.count > 0 {
			return c.end
		}
	case TokenBucket:
		if c.count > 0 {
			return c.start + refillTime(l, c, c.count)
		}
	case SlidingWindow:
		s := slotLength(l.Period)
		for n := c.start; n >= oldestSlot(l, c, now); n-- {
			if ring[n&slotMask] != 0 {
				return (n+1)*s + int64(l.Period)
			}
		}
	}
	return neverFull
}

// refillTime is how long a TokenBucket takes to get back want of the
// tokens it misses: ceil((want·Period − Frac) / Limit) nanoseconds.
func refillTime(l *Limit, c *cell, want int64) int64 {
	if want <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(want), uint64(l.Period))
	lo, borrow := bits.Sub64(lo, uint64(c.frac), 0)
	hi -= borrow
	if hi >= uint64(l.Limit) {
		return int64(MaxPeriod)
	}
	q, rem := bits.Div64(hi, lo, uint64(l.Limit))
	if rem != 0 {
		q++
	}
	return int64(min(q, uint64(MaxPeriod)))
}

// result describes the bucket at now. cost is what the request asked
// for, used only to say when it would fit.
func result(l *Limit, c *cell, ring *[SlidingSlots]int64, now int64, allowed bool, cost int64) Result {
	r := Result{Limit: *l, Allowed: allowed, Remaining: max(available(l, c, ring, now), 0)}
	if f := fullAt(l, c, ring, now); f != neverFull {
		r.Reset = time.Duration(max(f-now, 0))
	}
	if !allowed {
		r.RetryAfter = time.Duration(max(retryAt(l, c, ring, now, cost)-now, 0))
	}
	return r
}

// retryAt is when cost will fit, given that it does not fit at now.
func retryAt(l *Limit, c *cell, ring *[SlidingSlots]int64, now, cost int64) int64 {
	switch l.Strategy {
	case FixedWindow:
		return c.start + int64(l.Period)
	case Quota:
		return c.end
	case TokenBucket:
		return c.start + refillTime(l, c, c.count+cost-l.Capacity())
	}
	s := slotLength(l.Period)
	excess := -(available(l, c, ring, now) - cost)
	freed := int64(0)
	for n := oldestSlot(l, c, now); n <= c.start; n++ {
		if freed += ring[n&slotMask]; freed >= excess {
			return (n+1)*s + int64(l.Period)
		}
	}
	// Only a limit lowered below what the ring holds gets here; the
	// whole ring will have left the window by then.
	return (c.start+1)*s + int64(l.Period)
}

// mulDivCeil is ceil(a·b/d), and false when it does not fit in 64 bits.
func mulDivCeil(a, b, d uint64) (uint64, bool) {
	hi, lo := bits.Mul64(a, b)
	if hi >= d {
		return 0, false
	}
	q, rem := bits.Div64(hi, lo, d)
	if rem != 0 {
		if q == math.MaxUint64 {
			return 0, false
		}
		q++
	}
	return q, true
}
