package verifier

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddress says where the client's address comes from. Proxies put it
// in a header; only the hops the operator trusts may be believed, because a
// client can send any X-Forwarded-For it likes.
type ClientAddress struct {
	// Header is "X-Forwarded-For" (default), a single-address header such as
	// Envoy's "x-envoy-external-address" or "X-Real-IP", or "RemoteAddr"
	// for the connection's peer.
	Header string `json:"header,omitempty"`
	// TrustedHops is how many proxies in front of the verifier append to
	// X-Forwarded-For (default 1): the client is the address the outermost
	// of them appended, the TrustedHops-th from the right.
	TrustedHops int `json:"trustedHops,omitempty"`
}

// withDefaults also puts Header in net/http's canonical form, so that each
// request indexes the header map without canonicalising the name again.
// remoteAddr is "RemoteAddr" as withDefaults leaves it.
var remoteAddr = http.CanonicalHeaderKey("RemoteAddr")

func (c ClientAddress) withDefaults() ClientAddress {
	if c.Header == "" {
		c.Header = "X-Forwarded-For"
	}
	c.Header = http.CanonicalHeaderKey(c.Header)
	if c.TrustedHops <= 0 {
		c.TrustedHops = 1
	}
	return c
}

// from returns the client address of r, or the zero Addr when the headers
// do not say (fewer hops than trusted, garbage): conditions on the address
// then fail closed.
func (c ClientAddress) from(r *http.Request) netip.Addr {
	switch c.Header {
	case remoteAddr:
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return netip.Addr{}
		}
		return parseAddr(host)
	case "X-Forwarded-For":
		return forwardedFor(r.Header["X-Forwarded-For"], c.TrustedHops)
	}
	vs := r.Header[c.Header]
	if len(vs) != 1 {
		return netip.Addr{}
	}
	return parseAddr(strings.TrimSpace(vs[0]))
}

// forwardedFor picks the hops-th address from the right of all
// X-Forwarded-For values taken as one list (RFC 7239's order: each proxy
// appends the address it received the request from).
func forwardedFor(values []string, hops int) netip.Addr {
	// Walk from the right, the end the trusted proxies appended to.
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for {
			j := strings.LastIndexByte(v, ',')
			if hops--; hops == 0 {
				return parseAddr(strings.TrimSpace(v[j+1:]))
			}
			if j < 0 {
				break
			}
			v = v[:j]
		}
	}
	return netip.Addr{}
}

func parseAddr(s string) netip.Addr {
	s = strings.TrimPrefix(strings.TrimSuffix(s, "]"), "[")
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}
