package verifier

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/keyward-dev/keyward/internal/pemcerts"
)

// ForwardedCertificate says how a proxy that terminates TLS passes the
// client's certificate on.
type ForwardedCertificate struct {
	// Format is how the header encodes the certificate:
	//   Envoy: x-forwarded-client-cert (XFCC), the last element's Cert
	//     and Chain (URL-escaped PEM);
	//   Nginx: $ssl_client_escaped_cert, URL-escaped PEM;
	//   Traefik: passTLSClientCert's X-Forwarded-Tls-Client-Cert, base64
	//     DER without PEM armour, a chain comma-separated.
	Format string `json:"format"`
	// Header carries it (defaults: x-forwarded-client-cert for Envoy,
	// X-SSL-Client-Cert for Nginx, X-Forwarded-Tls-Client-Cert for
	// Traefik).
	Header string `json:"header,omitempty"`
	// TrustedHops are the networks (CIDRs) of the proxies whose header
	// is believed, matched on the connection's peer address. From any
	// other peer the header is ignored and the request is logged.
	TrustedHops []string `json:"trustedHops"`
}

// Formats of a forwarded client certificate.
const (
	ForwardedEnvoy   = "Envoy"
	ForwardedNginx   = "Nginx"
	ForwardedTraefik = "Traefik"
)

// maxForwardedHeader bounds the header parsed: a chain of maxChain
// escaped PEM certificates of a few kilobytes each fits.
const maxForwardedHeader = 64 << 10

// forwardedCert is a ForwardedCertificate checked and with defaults.
type forwardedCert struct {
	// field is the configuration field it came from, for messages.
	field       string
	header      string
	trustedHops []netip.Prefix
	parse       func(string) ([]*x509.Certificate, error)
	// parsed remembers the certificates of header values seen before:
	// a client sends the same certificate on every request, and parsing
	// it costs several times the rest of a cached decision.
	parsed *certMemo[[sha256.Size]byte]
}

// fromHeader is the client certificate a trusted hop's header values
// carry: none without a value, an error with more than one.
func (f *forwardedCert) fromHeader(values []string) (ClientCertificate, error) {
	switch len(values) {
	case 0:
		return ClientCertificate{}, nil
	case 1:
		if strings.TrimSpace(values[0]) == "" {
			// A proxy's variable for "no certificate" (nginx's with
			// ssl_verify_client optional) may be empty.
			return ClientCertificate{}, nil
		}
		cc, err := f.certificate(values[0])
		if err != nil {
			return ClientCertificate{}, fmt.Errorf("%w: the %s header: %w", errMalformedCertificate, f.header, err)
		}
		return cc, nil
	default:
		return ClientCertificate{}, fmt.Errorf("%w: the %s header appears %d times", errMalformedCertificate, f.header, len(values))
	}
}

// certificate is the client certificate a trusted hop's header value
// carries.
func (f *forwardedCert) certificate(value string) (ClientCertificate, error) {
	sum := sha256.Sum256([]byte(value))
	if cc, ok := f.parsed.get(sum); ok {
		return cc, nil
	}
	chain, err := f.parse(value)
	if err != nil {
		return ClientCertificate{}, err
	}
	cc, err := newClientCertificate(chain)
	if err != nil {
		return ClientCertificate{}, err
	}
	f.parsed.put(sum, cc)
	return cc, nil
}

// compile checks the configuration at field (its name in messages).
func (f *ForwardedCertificate) compile(field string) (*forwardedCert, error) {
	if f == nil {
		return nil, nil
	}
	out := &forwardedCert{field: field, header: f.Header, parsed: newCertMemo[[sha256.Size]byte]()}
	var def string
	switch f.Format {
	case ForwardedEnvoy:
		out.parse, def = parseEnvoyXFCC, "X-Forwarded-Client-Cert"
	case ForwardedNginx:
		out.parse, def = parseEscapedPEM, "X-SSL-Client-Cert"
	case ForwardedTraefik:
		out.parse, def = parseTraefikCert, "X-Forwarded-Tls-Client-Cert"
	default:
		return nil, fmt.Errorf("%s.format: %q is not %s, %s or %s", field, f.Format, ForwardedEnvoy, ForwardedNginx, ForwardedTraefik)
	}
	if out.header == "" {
		out.header = def
	}
	if strings.EqualFold(out.header, "Authorization") || strings.ContainsAny(out.header, " :\t") {
		return nil, fmt.Errorf("%s.header: %q is not a usable header name", field, out.header)
	}
	out.header = http.CanonicalHeaderKey(out.header)
	if len(f.TrustedHops) == 0 {
		return nil, fmt.Errorf("%s.trustedHops: required: without trusted hops the header would never be believed", field)
	}
	var err error
	if out.trustedHops, err = compileNetworks(field+".trustedHops", f.TrustedHops); err != nil {
		return nil, err
	}
	return out, nil
}

// parseEscapedPEM reads nginx's $ssl_client_escaped_cert: the PEM of the
// leaf (a chain is accepted too), URL-escaped.
func parseEscapedPEM(v string) ([]*x509.Certificate, error) {
	pemText, err := unescapeHeader(v)
	if err != nil {
		return nil, err
	}
	return pemcerts.Chain([]byte(pemText), maxChain)
}

// parseTraefikCert reads Traefik's X-Forwarded-Tls-Client-Cert: each
// certificate's DER in standard base64 without armour or line breaks,
// leaf first, comma-separated; Traefik v2 URL-escapes the value.
func parseTraefikCert(v string) ([]*x509.Certificate, error) {
	s, err := unescapeHeader(v)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxChain {
		return nil, fmt.Errorf("%d certificates, at most %d", len(parts), maxChain)
	}
	out := make([]*x509.Certificate, 0, len(parts))
	for i, p := range parts {
		der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("certificate %d is not base64 DER", i+1)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i+1, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// parseEnvoyXFCC reads the last element of an x-forwarded-client-cert
// header. With SANITIZE_SET, Envoy writes the element describing its own
// downstream client's certificate and drops what the client sent. With
// APPEND_FORWARD it appends that element only when the connection has a
// client certificate and otherwise forwards the client's header as it
// came, so the last element is the trusted hop's only when the listener
// has require_client_certificate: true; without it a client that sends
// no certificate writes the last element itself. Earlier elements came
// from further away, through hops the verifier does not know.
// Chain, when present, is the whole chain leaf first; Cert the leaf; Hash
// (hex SHA-256 of the leaf's DER), when present, must agree with them.
func parseEnvoyXFCC(v string) ([]*x509.Certificate, error) {
	if len(v) > maxForwardedHeader {
		return nil, fmt.Errorf("longer than %d bytes", maxForwardedHeader)
	}
	elements, err := splitQuoted(v, ',')
	if err != nil {
		return nil, err
	}
	fields, err := splitQuoted(elements[len(elements)-1], ';')
	if err != nil {
		return nil, err
	}
	kv := map[string]string{}
	for _, f := range fields {
		k, val, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			return nil, fmt.Errorf("%q is not key=value", truncate(f))
		}
		k = strings.ToLower(k)
		if _, dup := kv[k]; dup && uniqueXFCCKeys[k] {
			return nil, fmt.Errorf("the %s field appears twice in one element", k)
		}
		if kv[k], err = unquote(val); err != nil {
			return nil, fmt.Errorf("the %s field: %w", k, err)
		}
	}
	var leaf, chain []*x509.Certificate
	if s := kv["cert"]; s != "" {
		if leaf, err = parseEscapedPEM(s); err != nil {
			return nil, fmt.Errorf("the Cert field: %w", err)
		}
		if len(leaf) != 1 {
			return nil, fmt.Errorf("the Cert field holds %d certificates, not one", len(leaf))
		}
	}
	if s := kv["chain"]; s != "" {
		if chain, err = parseEscapedPEM(s); err != nil {
			return nil, fmt.Errorf("the Chain field: %w", err)
		}
		if leaf != nil && !bytes.Equal(leaf[0].Raw, chain[0].Raw) {
			return nil, errors.New("the Cert and Chain fields name different certificates")
		}
		leaf = chain
	}
	if leaf == nil {
		if _, ok := kv["hash"]; ok {
			return nil, errors.New("the element has a Hash but no Cert or Chain; set Envoy's set_current_client_cert_details cert: true")
		}
		return nil, nil
	}
	if h, ok := kv["hash"]; ok {
		sum := sha256.Sum256(leaf[0].Raw)
		if !strings.EqualFold(h, hex.EncodeToString(sum[:])) {
			return nil, errors.New("the Hash field is not the SHA-256 of the certificate")
		}
	}
	return leaf, nil
}

// uniqueXFCCKeys are the fields an XFCC element has at most once, and
// that name or vouch for the certificate read. Envoy writes one DNS or URI
// pair per subject alternative name; those are not read here.
var uniqueXFCCKeys = map[string]bool{"by": true, "hash": true, "cert": true, "chain": true}

// splitQuoted splits on sep outside double quotes, in which a backslash
// escapes the next character (XFCC quotes values with , ; or =).
func splitQuoted(s string, sep byte) ([]string, error) {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if quoted {
		return nil, errors.New("an unterminated quoted value")
	}
	return append(out, s[start:]), nil
}

// unquote removes XFCC's optional double quotes and backslash escapes.
func unquote(s string) (string, error) {
	if len(s) < 2 || s[0] != '"' {
		if strings.ContainsRune(s, '"') {
			return "", errors.New("a stray double quote")
		}
		return s, nil
	}
	if s[len(s)-1] != '"' {
		return "", errors.New("text after a quoted value")
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		} else if s[i] == '"' {
			return "", errors.New("text after a quoted value")
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

// unescapeHeader percent-decodes a header value. A "+" stays a "+": it is
// common in base64 and no proxy here encodes spaces that way.
func unescapeHeader(v string) (string, error) {
	if len(v) > maxForwardedHeader {
		return "", fmt.Errorf("longer than %d bytes", maxForwardedHeader)
	}
	s, err := url.PathUnescape(v)
	if err != nil {
		return "", errors.New("not a URL-escaped value")
	}
	return s, nil
}

// truncate keeps an error message about untrusted input short.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
