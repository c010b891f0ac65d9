// Package lifecycle decides, from timestamps alone, what is due for a key
// now and when to look at it next. It holds no timers: the reconciler calls
// Plan on every pass and requeues after Plan.RequeueAfter, so a restart or a
// new leader loses nothing.
package lifecycle

import "time"

// Input is what a key's durable state says about time.
type Input struct {
	Now time.Time
	// Active is false for suspended, revoked and expired keys: nothing is
	// scheduled for them.
	Active bool
	// IssuedAt is when the current secret was issued.
	IssuedAt time.Time
	// Interval is the rotation interval; zero means no scheduled rotation.
	Interval time.Duration
	// PreviousValidUntil ends the grace period of the previous secret.
	PreviousValidUntil *time.Time
	// ExpiresAt ends the key; nil means never.
	ExpiresAt *time.Time
	// WarnBefore is how long before a rotation or the expiry people are told.
	WarnBefore time.Duration
}

// Plan is what is due now and when to come back.
type Plan struct {
	// Expire: the key's expiry has passed.
	Expire bool
	// Rotate: the current secret is due for replacement.
	Rotate bool
	// EndGrace: the previous secret's grace period is over.
	EndGrace bool
	// NextRotation is when the current secret is due, if rotation is on.
	NextRotation *time.Time
	// RotationWarning and ExpiryWarning: inside the warning window.
	RotationWarning, ExpiryWarning bool
	// RequeueAfter is the time to the next instant at which Plan would say
	// something different; zero when nothing is scheduled.
	RequeueAfter time.Duration
}

// Schedule works out the plan for in.
func Schedule(in Input) Plan {
	var p Plan
	var next []time.Time
	at := func(t time.Time) bool { // due now, or else remembered as a wake-up
		if !in.Now.Before(t) {
			return true
		}
		next = append(next, t)
		return false
	}

	if in.PreviousValidUntil != nil {
		p.EndGrace = at(*in.PreviousValidUntil)
	}
	if !in.Active {
		return p.wake(in.Now, next)
	}
	if in.ExpiresAt != nil {
		if p.Expire = at(*in.ExpiresAt); p.Expire {
			// Nothing else matters for an expired key.
			return Plan{Expire: true, EndGrace: p.EndGrace}
		}
		p.ExpiryWarning = at(in.ExpiresAt.Add(-in.WarnBefore))
	}
	if in.Interval > 0 {
		due := in.IssuedAt.Add(in.Interval)
		// A rotation that would fall at or after the expiry is pointless.
		if in.ExpiresAt == nil || due.Before(*in.ExpiresAt) {
			p.NextRotation = &due
			p.Rotate = at(due)
			if !p.Rotate {
				p.RotationWarning = at(due.Add(-in.WarnBefore))
			}
		}
	}
	return p.wake(in.Now, next)
}

func (p Plan) wake(now time.Time, instants []time.Time) Plan {
	for _, t := range instants {
		d := t.Sub(now)
		if d > 0 && (p.RequeueAfter == 0 || d < p.RequeueAfter) {
			p.RequeueAfter = d
		}
	}
	return p
}
