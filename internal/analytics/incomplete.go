package analytics

import "time"

// incompleteHours is how many clock hours a Store remembers as
// incomplete: as many as one commit may fold into a baseline.
const incompleteHours = foldHorizon + 1

// incompleteMinutes remembers when the Store's picture of the keys was
// incomplete: minutes some replica's report left keys out of, for room.
// Which keys it left out is not known, so every key's absence in them is
// in doubt. It keeps the clock hours that held such a minute (a ring over
// incompleteHours) and the latest such minute, in fixed space whatever
// the number of keys.
type incompleteMinutes struct {
	hours [incompleteHours]uint32 // the slot's hour+1; 0 = none
	last  uint32                  // the latest incomplete minute; 0 = none
}

func (c *incompleteMinutes) mark(i uint32) {
	h := hourOf(i)
	c.hours[h%incompleteHours] = h + 1
	c.last = max(c.last, i)
}

// hour reports whether clock hour h held an incomplete minute, as far as
// the ring remembers.
func (c *incompleteMinutes) hour(h uint32) bool { return c.hours[h%incompleteHours] == h+1 }

// Incomplete records that the minutes committed for minute may lack some
// keys' use: a replica's report left keys out (usage.ActivityReport's
// Omitted). Absence is then no evidence: Silence counts a key's silence
// from the last incomplete minute at the earliest, and no hour that held
// one is judged a VolumeDrop or folded into the volume baseline. Call it
// before the minute is committed; calling it again for a minute is
// harmless.
func (s *Store) Incomplete(minute time.Time) {
	i, ok := minuteOf(minute)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.incomplete.mark(i)
}
