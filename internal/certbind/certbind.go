// Package certbind binds a key to client certificates (RFC 8705): by the
// certificate's SHA-256 thumbprint, or by a name in it (subject, DNS,
// URI — SPIFFE IDs included — or e-mail SAN) plus the certificate
// authority that must have issued it. The manager writes a Binding into a
// key's record; the verifier finds the key by the certificate a client
// presents and checks the binding, the chain and the validity period.
//
// The package knows nothing of Kubernetes or HTTP.
package certbind

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
)

// Credential says what a request bound to a certificate must present.
type Credential string

const (
	// CertificateOnly: the certificate alone authenticates the key.
	CertificateOnly Credential = "Certificate"
	// CertificateAndKey: the key must be presented too, over a connection
	// (or through a trusted proxy) with the bound certificate.
	CertificateAndKey Credential = "CertificateAndKey"
)

// Bounds of a binding's fields, as the API enforces them.
const (
	MaxNameLength      = 1024
	MaxAuthorityLength = 63
)

// Binding ties a key to certificates. Exactly one of Thumbprint, Subject,
// DNSName, URI and Email is set; a name needs Authority, since a name
// alone is whatever any CA chooses to sign.
type Binding struct {
	// Thumbprint is the certificate's x5t#S256 (RFC 8705 §3.1): unpadded
	// base64url of the SHA-256 of its DER encoding.
	Thumbprint string `json:"thumbprint,omitempty"`
	// Subject is the whole subject distinguished name in RFC 4514 form,
	// as pkix.RDNSequence.String() prints the certificate's DER subject:
	// every RDN, most specific first, the attributes of a multi-valued
	// RDN joined by "+" in their encoded order (e.g. "CN=payments,O=Acme").
	Subject string `json:"subject,omitempty"`
	// DNSName, URI and Email match one subject alternative name: a DNS
	// name without regard to ASCII case, a URI exactly as the CA wrote it,
	// an ASCII e-mail address with its domain without regard to ASCII case
	// and its local part exactly (RFC 5321).
	DNSName string `json:"dnsName,omitempty"`
	URI     string `json:"uri,omitempty"`
	Email   string `json:"email,omitempty"`
	// Authority names the verifier's configured certificate authority that
	// must have issued the certificate. Optional with a thumbprint (which
	// may then be self-signed), required with a name.
	Authority string `json:"authority,omitempty"`
	// Credential is what a request presents; empty means CertificateOnly.
	Credential Credential `json:"credential,omitempty"`
}

var (
	thumbprintPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	// authorityPattern is a DNS label: authorities are named in the
	// verifier's configuration and in metric-free log lines.
	authorityPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	dnsNamePattern   = regexp.MustCompile(`^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

// Validate reports every problem of a binding, naming its field.
func (b Binding) Validate() error {
	var errs []error
	set := 0
	for _, f := range []string{b.Thumbprint, b.Subject, b.DNSName, b.URI, b.Email} {
		if f != "" {
			set++
		}
	}
	if set != 1 {
		errs = append(errs, fmt.Errorf("exactly one of thumbprint, subject, dnsName, uri and email must be set, not %d", set))
	}
	for _, f := range []struct{ name, value string }{{"subject", b.Subject}, {"dnsName", b.DNSName}, {"uri", b.URI}, {"email", b.Email}} {
		if len(f.value) > MaxNameLength {
			errs = append(errs, fmt.Errorf("%s: longer than %d characters", f.name, MaxNameLength))
		}
	}
	if b.Thumbprint != "" && !thumbprintPattern.MatchString(b.Thumbprint) {
		errs = append(errs, errors.New("thumbprint: not an x5t#S256 (43 characters of unpadded base64url, the SHA-256 of the certificate's DER)"))
	}
	if b.DNSName != "" && !dnsNamePattern.MatchString(b.DNSName) {
		errs = append(errs, fmt.Errorf("dnsName: %q is not a DNS name", b.DNSName))
	}
	if b.URI != "" {
		if u, err := url.Parse(b.URI); err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
			errs = append(errs, fmt.Errorf("uri: %q is not an absolute URI such as spiffe://example.org/ns/payments/sa/reporter", b.URI))
		}
	}
	if b.Email != "" {
		if a, err := mail.ParseAddress(b.Email); err != nil || a.Address != b.Email {
			errs = append(errs, fmt.Errorf("email: %q is not a bare e-mail address", b.Email))
		} else if !isASCII(b.Email) {
			// A certificate's e-mail SAN is ASCII (an IA5String): a
			// binding outside it could only match through case folding.
			errs = append(errs, fmt.Errorf("email: %q is not an ASCII e-mail address", b.Email))
		}
	}
	if b.Authority == "" && b.Thumbprint == "" && set == 1 {
		errs = append(errs, errors.New("authority: required when binding by name, since any CA can sign any name"))
	}
	if b.Authority != "" && (len(b.Authority) > MaxAuthorityLength || !authorityPattern.MatchString(b.Authority)) {
		errs = append(errs, fmt.Errorf("authority: %q is not a lower-case DNS label", b.Authority))
	}
	switch b.Credential {
	case "", CertificateOnly, CertificateAndKey:
	default:
		errs = append(errs, fmt.Errorf("credential: %q is not %s or %s", b.Credential, CertificateOnly, CertificateAndKey))
	}
	return errors.Join(errs...)
}

// RequiresKey reports whether the key must be presented with the
// certificate.
func (b Binding) RequiresKey() bool { return b.Credential == CertificateAndKey }

// Thumbprint is the x5t#S256 of a DER-encoded certificate.
func Thumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Matches reports whether cert is the bound one by thumbprint or name. It
// checks neither the chain nor the validity period: the verifier does,
// against the authority the binding names.
func (b Binding) Matches(cert *x509.Certificate) bool {
	switch {
	case b.Thumbprint != "":
		return subtle.ConstantTimeCompare([]byte(Thumbprint(cert.Raw)), []byte(b.Thumbprint)) == 1
	case b.Subject != "":
		dn, ok := subjectDN(cert)
		return ok && dn == b.Subject
	case b.DNSName != "":
		for _, n := range cert.DNSNames {
			if asciiLower(n) == asciiLower(b.DNSName) {
				return true
			}
		}
	case b.URI != "":
		for _, u := range uriSANs(cert) {
			if u == b.URI {
				return true
			}
		}
	case b.Email != "":
		for _, e := range cert.EmailAddresses {
			if emailKey(e) == emailKey(b.Email) {
				return true
			}
		}
	}
	return false
}

// LookupKey is what an index of bindings is keyed by: the one thing the
// binding names, prefixed by its kind.
func (b Binding) LookupKey() string {
	switch {
	case b.Thumbprint != "":
		return "x5t:" + b.Thumbprint
	case b.Subject != "":
		return "subject:" + b.Subject
	case b.DNSName != "":
		return "dns:" + asciiLower(b.DNSName)
	case b.URI != "":
		return "uri:" + b.URI
	case b.Email != "":
		return "email:" + emailKey(b.Email)
	}
	return ""
}

// maxLookupKeys bounds the names a certificate is looked up by, so that a
// certificate with thousands of SANs costs no more than a normal one.
const maxLookupKeys = 16

// LookupKeys are the index keys a certificate may be bound under: its
// thumbprint, its subject and its SANs, at most maxLookupKeys of them.
func LookupKeys(cert *x509.Certificate) []string {
	out := make([]string, 0, 4)
	out = append(out, "x5t:"+Thumbprint(cert.Raw))
	if dn, ok := subjectDN(cert); ok {
		out = append(out, "subject:"+dn)
	}
	add := func(k string) bool {
		if len(out) >= maxLookupKeys {
			return false
		}
		out = append(out, k)
		return true
	}
	for _, n := range cert.DNSNames {
		if !add("dns:" + asciiLower(n)) {
			return out
		}
	}
	for _, u := range uriSANs(cert) {
		if !add("uri:" + u) {
			return out
		}
	}
	for _, e := range cert.EmailAddresses {
		if !add("email:" + emailKey(e)) {
			return out
		}
	}
	return out
}
