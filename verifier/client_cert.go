package verifier

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/keyward-dev/keyward/internal/certbind"
)

// maxChain bounds the certificates a client may present, leaf included: a
// real chain has two or three, and each costs parsing and verification.
const maxChain = 8

// maxLeafBytes and maxChainBytes bound a client certificate's DER, leaf
// and whole chain: real ones are a few KiB, while crypto/tls accepts a
// Certificate message of up to 256 KiB, and whatever is accepted is
// remembered (certMemo).
const (
	maxLeafBytes  = 16 << 10
	maxChainBytes = 64 << 10
)

// ClientCertificate is the certificate a client authenticated its TLS
// connection with, to the verifier or to a trusted proxy in front of it:
// the leaf, then the intermediates it sent. The zero value is "none".
type ClientCertificate struct {
	Leaf          *x509.Certificate
	Intermediates []*x509.Certificate
	// thumbprint is the leaf's x5t#S256, and lookupKeys what the index
	// of bindings finds it by (certbind.LookupKeys), computed once.
	thumbprint string
	lookupKeys []string
}

// newClientCertificate takes a chain in TLS order, leaf first.
func newClientCertificate(chain []*x509.Certificate) (ClientCertificate, error) {
	switch {
	case len(chain) == 0:
		return ClientCertificate{}, nil
	case len(chain) > maxChain:
		return ClientCertificate{}, fmt.Errorf("the client certificate chain has %d certificates, at most %d", len(chain), maxChain)
	case len(chain[0].Raw) > maxLeafBytes:
		return ClientCertificate{}, fmt.Errorf("the client certificate is %d bytes, at most %d", len(chain[0].Raw), maxLeafBytes)
	}
	if n := chainBytes(chain); n > maxChainBytes {
		return ClientCertificate{}, fmt.Errorf("the client certificate chain is %d bytes, at most %d", n, maxChainBytes)
	}
	return ClientCertificate{Leaf: chain[0], Intermediates: chain[1:],
		thumbprint: certbind.Thumbprint(chain[0].Raw), lookupKeys: certbind.LookupKeys(chain[0])}, nil
}

// chainBytes is the DER size of a chain.
func chainBytes(chain []*x509.Certificate) int {
	n := 0
	for _, c := range chain {
		n += len(c.Raw)
	}
	return n
}

// size is the DER size of the certificate and its intermediates.
func (c ClientCertificate) size() int {
	if c.Leaf == nil {
		return 0
	}
	return len(c.Leaf.Raw) + chainBytes(c.Intermediates)
}

// Present reports whether the client presented a certificate.
func (c ClientCertificate) Present() bool { return c.Leaf != nil }

// Thumbprint is the leaf's SHA-256 thumbprint in RFC 8705's x5t#S256 form,
// the value a certificate-bound token's cnf claim carries.
func (c ClientCertificate) Thumbprint() string {
	if c.thumbprint == "" && c.Leaf != nil {
		return certbind.Thumbprint(c.Leaf.Raw)
	}
	return c.thumbprint
}

// LookupKeys are the keys the index of bindings finds the certificate by.
func (c ClientCertificate) LookupKeys() []string {
	if c.lookupKeys == nil && c.Leaf != nil {
		return certbind.LookupKeys(c.Leaf)
	}
	return c.lookupKeys
}

// errMalformedCertificate wraps every reason a presented certificate could
// not be read; the decision names it malformed_certificate.
var errMalformedCertificate = errors.New("malformed client certificate")

// clientCertificate returns the certificate of the client a request is
// about, which came from peer (the connection's address, peerAddr). f is
// the proxy header configured for the endpoint, and read says
// whether the endpoint reads it: the forward-auth endpoints of mutual-TLS
// sites do, the others never (a proxy passes a plain site's client's own
// headers to them). Where it is read, from a trusted hop (f.trustedHops,
// matched on the connection's peer address, never on a header) the
// certificate is the one the header carries, and none when the header is
// absent. Everywhere else the header is ignored, counted and logged. The
// certificate of the connection's TLS handshake is the client's unless
// the peer is a trusted hop: the hop's own certificate authenticates the
// hop, not its client.
//
// A certificate that cannot be read is an error wrapping
// errMalformedCertificate; callers deny the request rather than go on as
// if no certificate had been sent. The certificate is not verified here:
// verifyClientCertificate checks it against a key's binding.
func (h *handler) clientCertificate(r *http.Request, peer netip.Addr, f *forwardedCert, read bool) (ClientCertificate, error) {
	if f == nil {
		return h.tlsClientCertificate(r.TLS)
	}
	values := r.Header.Values(f.header)
	trusted := inNetworks(peer, f.trustedHops)
	if read && trusted {
		return f.fromHeader(values)
	}
	if len(values) > 0 {
		h.ignoredCertificateHeader(f, peer, trusted)
	}
	if trusted {
		return ClientCertificate{}, nil
	}
	return h.tlsClientCertificate(r.TLS)
}

// ignoredCertificateHeader counts, and logs now and then, a header that
// was not read.
func (h *handler) ignoredCertificateHeader(f *forwardedCert, peer netip.Addr, trusted bool) {
	h.v.metrics.untrustedCertHeader.Inc()
	if !h.untrustedCertLog.allow(h.v.clock.Now(), untrustedLogEvery) {
		return
	}
	why := "the peer is not among " + f.field + ".trustedHops"
	if trusted {
		why = "the endpoint does not read it: it is the forward-auth of plain sites, whose clients' own headers the proxy passes on"
	}
	// Not the path: Envoy's is the client's own, which may hold secrets.
	h.v.log.Info("ignoring a client-certificate header", "peer", peer.String(), "header", f.header, "reason", why)
}

// tlsClientCertificate is the certificate of the connection's own
// handshake, which proved the client holds its private key.
// Every request on a connection carries the same parsed certificate, so
// it is remembered by its address.
func (h *handler) tlsClientCertificate(cs *tls.ConnectionState) (ClientCertificate, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return ClientCertificate{}, nil
	}
	leaf := cs.PeerCertificates[0]
	if cc, ok := h.tlsCerts.get(leaf); ok {
		return cc, nil
	}
	cc, err := newClientCertificate(cs.PeerCertificates)
	if err != nil {
		return ClientCertificate{}, fmt.Errorf("%w: %w", errMalformedCertificate, err)
	}
	h.tlsCerts.put(leaf, cc)
	return cc, nil
}

// tokenClientCertificate is the certificate of a token request's client:
// from a header only as clientCertificates.publicForwarded says, and
// otherwise the TLS handshake's. The decision port's forwarded setting
// plays no part: the proxies it trusts are not the public port's.
func (h *handler) tokenClientCertificate(r *http.Request) (ClientCertificate, error) {
	return h.clientCertificate(r, peerAddr(r), h.cfg.publicForwarded, true)
}
