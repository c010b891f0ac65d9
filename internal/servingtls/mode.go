// Package servingtls serves TLS from PEM files that are replaced while the
// server runs: cert-manager renews a certificate in place, and the kubelet
// swaps a mounted Secret's files by a symlink. The serving certificate and
// the client CA bundle are read again without a restart, and a bad file
// never replaces a good one.
package servingtls

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// ClientAuth is what a listener asks of its clients' certificates.
type ClientAuth string

const (
	// ClientAuthNone asks for no client certificate.
	ClientAuthNone ClientAuth = "none"
	// ClientAuthRequest asks for one and takes any, self-signed included,
	// unverified: the application decides (RFC 8705's
	// self_signed_tls_client_auth binds a key to a certificate no CA
	// issued).
	ClientAuthRequest ClientAuth = "request"
	// ClientAuthOptional takes a connection without a certificate; one
	// that is presented must verify against the client CA bundle.
	ClientAuthOptional ClientAuth = "optional"
	// ClientAuthRequired refuses the handshake without a certificate that
	// verifies against the client CA bundle.
	ClientAuthRequired ClientAuth = "required"
)

// ClientAuthModes are the valid modes, in order of strictness.
var ClientAuthModes = []ClientAuth{ClientAuthNone, ClientAuthRequest, ClientAuthOptional, ClientAuthRequired}

// ParseClientAuth reads a mode; the empty string is ClientAuthNone.
func ParseClientAuth(s string) (ClientAuth, error) {
	if s == "" {
		return ClientAuthNone, nil
	}
	for _, m := range ClientAuthModes {
		if ClientAuth(s) == m {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown client certificate mode %q (one of %s)", s, modeList())
}

// verifies says whether the TLS layer checks the chain against the client
// CA bundle, which it then needs.
func (m ClientAuth) verifies() bool { return m == ClientAuthOptional || m == ClientAuthRequired }

func (m ClientAuth) tlsType() tls.ClientAuthType {
	switch m {
	case ClientAuthRequest:
		return tls.RequestClientCert
	case ClientAuthOptional:
		return tls.VerifyClientCertIfGiven
	case ClientAuthRequired:
		return tls.RequireAndVerifyClientCert
	default:
		return tls.NoClientCert
	}
}

func modeList() string {
	s := make([]string, len(ClientAuthModes))
	for i, m := range ClientAuthModes {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}
