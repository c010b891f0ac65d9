// Package apiretry keeps reads from the API server waiting through an
// outage instead of failing.
//
// client-go's informers back off between failed attempts to list and
// watch, doubling up to a minute; after an API-server outage of a few
// seconds, a manager or verifier would then see nothing new for up to a
// minute after the API server is back: revocations made meanwhile wait,
// and a verifier that went stale stays Indeterminate. Wrap retries a read
// that could not reach the API server, every Interval, for as long as the
// request's context allows, so the informer never sees the failures and
// picks up within Interval of the API server's return.
package apiretry

import (
	"errors"
	"net"
	"net/http"
	"time"
)

// Interval is how often a read is tried again while the API server cannot
// be reached.
const Interval = time.Second

// Wrap retries GET requests (lists, watches and reads, which change
// nothing if sent twice) whose connection could not be made: nothing was
// sent, and the API server is down or out of reach. Everything else passes
// as it is: writes, and every answer, an error status too (a 503 may come
// from an aggregated API that is down for good, which waiting would hide).
// A read whose context ends gets the last error. It fits rest.Config.Wrap.
func Wrap(next http.RoundTripper) http.RoundTripper { return &transport{next: next} }

type transport struct{ next http.RoundTripper }

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet {
		return t.next.RoundTrip(r)
	}
	for {
		resp, err := t.next.RoundTrip(r)
		if !unreachable(err) {
			return resp, err
		}
		wait := time.NewTimer(Interval)
		select {
		case <-r.Context().Done():
			wait.Stop()
			return resp, err
		case <-wait.C:
		}
	}
}

func unreachable(err error) bool {
	var op *net.OpError
	return err != nil && errors.As(err, &op) && op.Op == "dial"
}
