// Package apiretry keeps reads from the API server waiting through an
// outage instead of failing.
//
// client-go's informers back off between failed attempts to list and
// watch, doubling up to a minute; after an API-server outage of a few
// seconds, a manager or verifier would then see nothing new for up to a
// minute after the API server is back: revocations made meanwhile wait,
// and a verifier that went stale stays Indeterminate. Wrap retries a read
// that did not reach an API server able to answer it, every Interval, for
// as long as the request's context allows, so the informer never sees the
// failures and picks up within Interval of the API server's return.
package apiretry

import (
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// Interval is how often a read is tried again while the API server cannot
// be reached.
const Interval = time.Second

// Wrap retries GET requests (lists, watches and reads, which change
// nothing if sent twice) whose connection could not be made, and those
// the API server or a proxy in front of it answered 502, 503 or 504 (not
// ready, shutting down, its storage away). Other requests and other
// errors pass as they are, and a read whose context ends gets the last
// answer. It fits rest.Config.Wrap.
func Wrap(next http.RoundTripper) http.RoundTripper { return &transport{next: next} }

type transport struct{ next http.RoundTripper }

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet {
		return t.next.RoundTrip(r)
	}
	for {
		resp, err := t.next.RoundTrip(r)
		if !unreachable(resp, err) {
			return resp, err
		}
		wait := time.NewTimer(Interval)
		select {
		case <-r.Context().Done():
			wait.Stop()
			return resp, err
		case <-wait.C:
		}
		if resp != nil {
			// Drained, so that the connection serves the next try.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		}
	}
}

func unreachable(resp *http.Response, err error) bool {
	if err != nil {
		// Only a connection never made: nothing was sent, and nothing
		// else (a TLS failure, a reset) is taken for an outage.
		var op *net.OpError
		return errors.As(err, &op) && op.Op == "dial"
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
