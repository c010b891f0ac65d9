package verifier

import (
	"crypto/subtle"

	"github.com/keyward-dev/keyward/internal/token"
)

// Reasons of a certificate-bound token (RFC 8705 §3) refused for the
// certificate it came with. Both are credential problems: 401
// invalid_token.
const (
	ReasonTokenCertificateMissing  Reason = "token_certificate_missing"
	ReasonTokenCertificateMismatch Reason = "token_certificate_mismatch"
)

// certificateConfirmation checks a validated token's cnf against the
// certificate presented with it. An unbound token passes; a bound one
// needs the very certificate it names. Only the thumbprint is compared
// (RFC 8705 §3): proof of possession is the TLS handshake's, done by the
// verifier's listener or by the trusted proxy that passed the certificate
// on, and the token endpoint bound the token to a certificate its client
// had proved it holds in the same way.
func certificateConfirmation(c token.Claims, cert ClientCertificate) Decision {
	switch {
	case c.CertThumbprint == "":
		return Decision{}
	case !cert.Present():
		return deny(ReasonTokenCertificateMissing, "the token is bound to a client certificate (RFC 8705) and the request presents none")
	case subtle.ConstantTimeCompare([]byte(cert.Thumbprint()), []byte(c.CertThumbprint)) != 1:
		return deny(ReasonTokenCertificateMismatch, "the token is bound to another client certificate than the one presented")
	}
	return Decision{}
}
