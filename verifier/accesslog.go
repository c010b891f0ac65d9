package verifier

import (
	"time"

	"github.com/keyward-dev/keyward/internal/audit"
)

// Bounds of the counting of denials, by default.
const (
	DefaultDenialInterval  = 10 * time.Second
	DefaultMaxDenialGroups = 100
)

// AccessLog configures the verifier's audit trail: a JSON line per first use
// of a secret in this process, and denials counted per (reason, source
// network) per interval, so that a flood cannot fill the disk. The first
// denial of a group in an interval has a line of its own, with everything a
// denial line says; at the end of the interval a group denied more than
// once gets one more line with its count. The trail never sees the
// credential: only the decision and the request's resource, action and
// address.
type AccessLog struct {
	W *audit.Writer
	// Interval over which denials are counted (0: DefaultDenialInterval;
	// negative: a line per denial, however many there are).
	Interval time.Duration
	// MaxGroups bounds the (reason, network) groups of one interval (0:
	// DefaultMaxDenialGroups); denials beyond it are counted on a single
	// line of their own.
	MaxGroups int
}

// accessLog writes the trail an AccessLog configures.
type accessLog struct {
	w       *audit.Writer
	denials *denialCounter
}

func (c AccessLog) start() *accessLog {
	l := &accessLog{w: c.W}
	if c.W == nil || c.Interval < 0 {
		return l
	}
	if c.Interval == 0 {
		c.Interval = DefaultDenialInterval
	}
	if c.MaxGroups <= 0 {
		c.MaxGroups = DefaultMaxDenialGroups
	}
	l.denials = newDenialCounter(c.Interval, c.MaxGroups, c.W.RecordDenials)
	return l
}

func (l *accessLog) denied(now time.Time, req Request, d Decision) {
	if l.w == nil {
		return
	}
	if l.denials != nil && !l.denials.count(now, req.Env.Address, d) {
		return
	}
	a := audit.Access{
		Time: now, Action: audit.Denied, Decision: string(d.Result), Reason: string(d.Reason),
		Source: sourceString(req),
	}
	// The operator's trail names the key a denial was about even when the
	// caller did not prove its secret: that is how guessing shows up.
	if e := d.entry; e != nil {
		a.KeyID, a.Owner = e.Record.KeyID, e.Record.Owner
	}
	if req.Resource.Type != "" {
		a.Resource = req.Resource.String()
	}
	if req.Action != 0 {
		a.RequestAction = req.Action.String()
	}
	if req.ClientCertificate.Present() {
		a.Certificate = req.ClientCertificate.Thumbprint()
	}
	l.w.RecordAccess(a)
}

func (l *accessLog) firstUse(now time.Time, e *Entry, serial string) {
	if l.w == nil {
		return
	}
	s, _ := e.Record.BySerial(serial)
	l.w.RecordAccess(audit.Access{Time: now, Action: audit.FirstUse, KeyID: e.Record.KeyID, Owner: e.Record.Owner, Secret: string(secretKind(s))})
}

// flush writes the counts of the current interval, at shutdown.
func (l *accessLog) flush() {
	if l.denials != nil {
		l.denials.flush()
	}
}

func sourceString(req Request) string {
	if !req.Env.Address.IsValid() {
		return ""
	}
	return req.Env.Address.String()
}
