package certbind

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
)

// The names of a certificate, read the way every path compares them
// (Matches, LookupKey and LookupKeys), so that a certificate is found
// under exactly the bindings it matches.

// subjectDN is the certificate's whole subject as RFC 4514 prints it, most
// specific RDN first, read from the DER: pkix.Name.String() keeps only the
// last CN, reorders the attributes it knows and flattens multi-valued
// RDNs, so that different subjects would print alike. ok is false for a
// subject that does not parse (then no binding by subject matches).
// SubjectDN is the subject as a binding by subject must spell it, for
// people and logs: empty when it does not parse.
func SubjectDN(cert *x509.Certificate) string {
	dn, _ := subjectDN(cert)
	return dn
}

func subjectDN(cert *x509.Certificate) (dn string, ok bool) {
	var rdns pkix.RDNSequence
	rest, err := asn1.Unmarshal(cert.RawSubject, &rdns)
	if err != nil || len(rest) != 0 {
		return "", false
	}
	return rdns.String(), true
}

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// uriTag is the context-specific tag of a GeneralName's
// uniformResourceIdentifier (RFC 5280 §4.2.1.6).
const uriTag = 6

// uriSANs are the certificate's URI SANs as the CA wrote them: cert.URIs
// holds them parsed, and url.URL.String() does not give every one back
// (an empty fragment or query is dropped, the scheme lower-cased).
// x509.ParseCertificate has checked the extension, so this reads only
// what it accepted.
func uriSANs(cert *x509.Certificate) []string {
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		var names asn1.RawValue
		if rest, err := asn1.Unmarshal(ext.Value, &names); err != nil || len(rest) != 0 ||
			names.Class != asn1.ClassUniversal || names.Tag != asn1.TagSequence || !names.IsCompound {
			return nil
		}
		var uris []string
		for rest := names.Bytes; len(rest) > 0; {
			var name asn1.RawValue
			var err error
			if rest, err = asn1.Unmarshal(rest, &name); err != nil {
				return nil
			}
			if name.Class == asn1.ClassContextSpecific && name.Tag == uriTag && !name.IsCompound {
				uris = append(uris, string(name.Bytes))
			}
		}
		return uris
	}
	return nil
}

// emailKey is an e-mail address as RFC 5321 compares it: the domain
// without regard to ASCII case, the local part exactly.
func emailKey(address string) string {
	at := strings.LastIndexByte(address, '@')
	return address[:at+1] + asciiLower(address[at+1:])
}

// asciiLower folds only ASCII letters: Unicode folding would make "ſ" an
// "s" and the Kelvin sign a "k".
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// isASCII reports whether s is printable ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
