package lifecycle

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestScheduleChoosesTheNextInstant(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	day := 24 * time.Hour
	base := Input{Active: true, IssuedAt: t0, WarnBefore: day}

	cases := map[string]struct {
		now  time.Duration // after t0
		mod  func(*Input)
		want Plan
	}{
		"nothing scheduled": {0, func(*Input) {}, Plan{}},
		"rotation far off: wake at the warning": {
			time.Hour, func(in *Input) { in.Interval = 30 * day },
			Plan{NextRotation: at(30 * day), RequeueAfter: 29*day - time.Hour},
		},
		"inside the rotation warning: wake at the rotation": {
			29*day + time.Hour, func(in *Input) { in.Interval = 30 * day },
			Plan{NextRotation: at(30 * day), RotationWarning: true, RequeueAfter: 23 * time.Hour},
		},
		"rotation due": {
			30 * day, func(in *Input) { in.Interval = 30 * day },
			Plan{NextRotation: at(30 * day), Rotate: true},
		},
		"in grace: wake when it ends, before the next warning": {
			time.Hour, func(in *Input) { in.Interval = 30 * day; in.PreviousValidUntil = at(2 * time.Hour) },
			Plan{NextRotation: at(30 * day), RequeueAfter: time.Hour},
		},
		"grace over": {
			3 * time.Hour, func(in *Input) { in.Interval = 30 * day; in.PreviousValidUntil = at(2 * time.Hour) },
			Plan{NextRotation: at(30 * day), EndGrace: true, RequeueAfter: 29*day - 3*time.Hour},
		},
		"expiry before the next rotation: no rotation, wake at the expiry warning": {
			0, func(in *Input) { in.Interval = 30 * day; in.ExpiresAt = at(10 * day) },
			Plan{RequeueAfter: 9 * day},
		},
		"inside the expiry warning": {
			9*day + time.Hour, func(in *Input) { in.ExpiresAt = at(10 * day) },
			Plan{ExpiryWarning: true, RequeueAfter: 23 * time.Hour},
		},
		"expired, grace still open: only expiry and grace matter": {
			10 * day, func(in *Input) { in.ExpiresAt = at(10 * day); in.Interval = day; in.PreviousValidUntil = at(11 * day) },
			Plan{Expire: true},
		},
		"suspended: only the grace end is scheduled": {
			time.Hour, func(in *Input) { in.Active = false; in.Interval = day; in.PreviousValidUntil = at(2 * time.Hour) },
			Plan{RequeueAfter: time.Hour},
		},
		"suspended, grace over": {
			3 * time.Hour, func(in *Input) { in.Active = false; in.PreviousValidUntil = at(2 * time.Hour) },
			Plan{EndGrace: true},
		},
		"rotation overdue after a long outage: rotate once now": {
			90 * day, func(in *Input) { in.Interval = 30 * day },
			Plan{NextRotation: at(30 * day), Rotate: true},
		},
		"warning window longer than the interval": {
			time.Minute, func(in *Input) { in.Interval = time.Hour },
			Plan{NextRotation: at(time.Hour), RotationWarning: true, RequeueAfter: 59 * time.Minute},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			clock := clocktesting.NewFakePassiveClock(t0)
			clock.SetTime(t0.Add(tc.now))
			in := base
			in.Now = clock.Now()
			tc.mod(&in)
			g.Expect(Schedule(in)).To(Equal(tc.want))
		})
	}
}

// Walking a fake clock from wake-up to wake-up must visit every instant at
// which the plan changes, and never wake for nothing.
func TestRequeueVisitsEveryChange(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	grace := t0.Add(90 * time.Minute)
	expires := t0.Add(10 * time.Hour)
	in := Input{Active: true, IssuedAt: t0, Interval: 4 * time.Hour, PreviousValidUntil: &grace, ExpiresAt: &expires, WarnBefore: time.Hour}
	clock := clocktesting.NewFakeClock(t0)
	var wakes []time.Duration
	for range 20 {
		in.Now = clock.Now()
		p := Schedule(in)
		if p.Rotate {
			in.IssuedAt = in.Now // what the reconciler does
			continue
		}
		if p.RequeueAfter == 0 {
			break
		}
		clock.Step(p.RequeueAfter)
		wakes = append(wakes, clock.Now().Sub(t0))
	}
	g.Expect(wakes).To(Equal([]time.Duration{
		90 * time.Minute, // grace ends
		3 * time.Hour,    // rotation warning
		4 * time.Hour,    // rotation
		7 * time.Hour,    // next rotation warning
		8 * time.Hour,    // rotation
		9 * time.Hour,    // expiry warning (the rotation at 12h would follow expiry)
		10 * time.Hour,   // expiry
	}))
}
