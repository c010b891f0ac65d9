package verifier

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/keyward-dev/keyward/internal/access"
)

// maxTrustedCallers bounds the list; a handful of proxy networks is usual.
const maxTrustedCallers = 256

// untrustedLogEvery spaces the log lines about ignored environments: a
// caller repeating its mistake must not flood the log, the metric counts
// every one.
const untrustedLogEvery = time.Minute

func compileTrustedCallers(cidrs []string) ([]netip.Prefix, error) {
	return compileNetworks("trustedCallers", cidrs)
}

// compileNetworks parses the CIDRs of a configuration field that trusts
// peers by their connection's address.
func compileNetworks(field string, cidrs []string) ([]netip.Prefix, error) {
	if len(cidrs) > maxTrustedCallers {
		return nil, fmt.Errorf("%s: %d networks, at most %d", field, len(cidrs), maxTrustedCallers)
	}
	out := make([]netip.Prefix, 0, len(cidrs))
	for i, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32", field, i, c)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("%s[%d]: %q has host bits set; did you mean %s?", field, i, c, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

// peerAddr is the address of the connection's other end: the only thing
// about a caller the caller cannot simply claim.
func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return parseAddr(host)
}

// trusts reports whether peer is one of the configured trusted callers.
func (c *compiledConfig) trusts(peer netip.Addr) bool { return inNetworks(peer, c.trustedCallers) }

func inNetworks(peer netip.Addr, networks []netip.Prefix) bool {
	if !peer.IsValid() {
		return false
	}
	for _, p := range networks {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// trustEnvironment drops a decision request's environment unless its
// caller is trusted: anyone else could claim any address, time, country,
// network or device, and conditions on them would mean nothing. Without
// it, conditions that need the environment fail closed; time windows use
// the verifier's clock.
func (h *handler) trustEnvironment(req *Request, r *http.Request) {
	if req.Env == (access.Environment{}) || h.cfg.trusts(req.Peer) {
		return
	}
	req.Env = access.Environment{}
	h.v.metrics.untrustedEnv.Inc()
	if h.untrustedEnvLog.allow(h.v.clock.Now(), untrustedLogEvery) {
		h.v.log.Info("ignoring the environment of decision requests from a caller not in trustedCallers; conditions that need it fail closed",
			"caller", req.Peer.String(), "path", r.URL.Path)
	}
}
