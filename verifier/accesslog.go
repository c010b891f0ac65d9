package verifier

import (
	"time"

	"github.com/keyward-dev/keyward/internal/audit"
)

// AccessLog writes the verifier's audit trail: one JSON line per denial and
// per first use of a secret in this process. It never sees the credential:
// only the decision and the request's resource, action and address.
type AccessLog struct{ W *audit.Writer }

func (l AccessLog) denied(now time.Time, req Request, d Decision) {
	if l.W == nil {
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
	l.W.RecordAccess(a)
}

func (l AccessLog) firstUse(now time.Time, e *Entry, serial string) {
	if l.W == nil {
		return
	}
	s, _ := e.Record.BySerial(serial)
	l.W.RecordAccess(audit.Access{Time: now, Action: audit.FirstUse, KeyID: e.Record.KeyID, Owner: e.Record.Owner, Secret: string(secretKind(s))})
}

func sourceString(req Request) string {
	if !req.Env.Address.IsValid() {
		return ""
	}
	return req.Env.Address.String()
}
