package verifier

import (
	"net/http"
	"strings"
)

// CredentialProblem says why a request carries no usable credential.
type CredentialProblem uint8

const (
	// CredentialPresent: exactly one credential was found.
	CredentialPresent CredentialProblem = iota
	// CredentialMissing: no credential header at all.
	CredentialMissing
	// CredentialMalformed: a credential header that is not a single
	// well-formed credential, or several that disagree.
	CredentialMalformed
)

// maxCredentialHeader bounds the header we look at; a key is 74 bytes, and a
// JWT (a later credential type) a few kilobytes at most.
const maxCredentialHeader = 8 << 10

// ExtractCredential returns the credential a request presents in the
// Authorization header (scheme Bearer, case-insensitive, RFC 6750 §2.1) or in
// any of apiKeyHeaders. The same credential in several headers is accepted;
// different ones, a repeated header, another Authorization scheme or an empty
// value are malformed: guessing which one the client meant would let a proxy
// and the verifier disagree about who is calling. apiKeyHeaders are in
// net/http's canonical form (http.CanonicalHeaderKey), as Config makes
// them: the map is indexed directly, as net/http stores what it read.
func ExtractCredential(h http.Header, apiKeyHeaders []string) (string, CredentialProblem) {
	var found string
	add := func(v string) CredentialProblem {
		if v == "" || len(v) > maxCredentialHeader || hasSeparator(v) {
			return CredentialMalformed
		}
		if found != "" && found != v {
			return CredentialMalformed
		}
		found = v
		return CredentialPresent
	}
	if vs := h["Authorization"]; len(vs) > 0 {
		if len(vs) > 1 {
			return "", CredentialMalformed
		}
		token, ok := bearerToken(vs[0])
		if !ok {
			return "", CredentialMalformed
		}
		if p := add(token); p != CredentialPresent {
			return "", p
		}
	}
	for _, name := range apiKeyHeaders {
		vs := h[name]
		if len(vs) == 0 {
			continue
		}
		if len(vs) > 1 {
			return "", CredentialMalformed
		}
		if p := add(strings.TrimSpace(vs[0])); p != CredentialPresent {
			return "", p
		}
	}
	if found == "" {
		return "", CredentialMissing
	}
	return found, CredentialPresent
}

// hasSeparator reports whether v holds a space, a tab or a comma: a list
// or a scheme where one credential belongs. Three vectorised byte
// searches: strings.ContainsAny builds its set on every call, and a byte
// loop is slower still over a whole key, on every request.
func hasSeparator(v string) bool {
	return strings.IndexByte(v, ' ') >= 0 || strings.IndexByte(v, '\t') >= 0 || strings.IndexByte(v, ',') >= 0
}

// bearerToken parses "Bearer <token>" with one or more spaces, the scheme
// matched case-insensitively (RFC 9110 §11.1).
func bearerToken(v string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token := strings.TrimLeft(rest, " ")
	return token, token != ""
}

// credentialInQuery reports whether a URL query carries something that looks
// like a credential, so the verifier can refuse it loudly instead of
// silently ignoring a key that has already leaked into access logs.
func credentialInQuery(rawQuery string) bool {
	if rawQuery == "" {
		return false
	}
	return strings.Contains(rawQuery, "keyward_") || containsFold(rawQuery, "access_token=") ||
		containsFold(rawQuery, "api_key=") || containsFold(rawQuery, "apikey=")
}

// containsFold is an ASCII case-insensitive strings.Contains for a
// lower-case sub, without lower-casing a copy of s on the request path.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && s[i+j]|0x20 == sub[j]|0x20 && (s[i+j] == sub[j] || isASCIILetter(sub[j])) {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' }
