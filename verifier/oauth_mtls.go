package verifier

import (
	"net/http"
	"net/url"
	"time"
)

// Client authentication methods of RFC 8705 §2, by the name the metadata
// advertises them under.
const (
	authTLSClient           = "tls_client_auth"
	authSelfSignedTLSClient = "self_signed_tls_client_auth"
)

// certificateMethod is the RFC 8705 method a binding stands for: a
// binding that names an authority is checked against that CA's chain
// (tls_client_auth, §2.1); a thumbprint alone accepts any certificate
// with that thumbprint, self-signed ones included (§2.2).
func certificateMethod(e *Entry) string {
	if b := e.Record.ClientCertificate; b != nil && b.Authority == "" {
		return authSelfSignedTLSClient
	}
	return authTLSClient
}

// certificateClient authenticates a token request by its client
// certificate alone (RFC 8705 §2): client_id names the key, which must be
// live, allow MutualTLS, be bound to the certificate (validity, chain to
// the named authority, thumbprint or name: the rule forward-auth applies)
// and let the certificate authenticate without the key.
func (h *handler) certificateClient(r *http.Request, form url.Values, cert ClientCertificate, now time.Time) (*Entry, *tokenRequestError) {
	id := form.Get("client_id")
	if id == "" {
		return nil, tokenErr(http.StatusBadRequest, "invalid_request",
			"client_id is required to authenticate with a client certificate ("+authTLSClient+" or "+authSelfSignedTLSClient+")")
	}
	refuse := func(desc string) *tokenRequestError {
		return tokenErr(http.StatusUnauthorized, "invalid_client", desc)
	}
	e, ok := h.v.index.Lookup(id)
	if !ok {
		return nil, refuse("the client could not be authenticated: " + string(ReasonUnknownKey))
	}
	if d, ok := stateDenial(e, now); !ok {
		return nil, refuse("the client could not be authenticated: " + string(d.Reason))
	}
	if cerr := h.v.verifyClientCertificate(e, cert, now); cerr != nil {
		// A refused certificate is a denial like any other in the audit
		// trail.
		req := Request{Env: h.environment(r), Peer: peerAddr(r), ClientCertificate: cert, tokenRequest: true}
		h.v.audit.denied(now, req, identified(cerr.decision(), e))
		return nil, refuse(certificateMethod(e) + ": " + cerr.Message)
	}
	if !certificateOnly(e) {
		return nil, refuse("the key's certificate binding requires the key as well: send it as client_secret over this connection")
	}
	return e, nil
}
