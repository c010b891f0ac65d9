package verifier

import (
	"net/http"
	"strconv"
)

// The rate-limit headers of draft-ietf-httpapi-ratelimit-headers-07: the
// limit closest to refusing, as RateLimit-Limit (what it allows at once),
// RateLimit-Remaining, RateLimit-Reset (seconds until it is whole again)
// and RateLimit-Policy ("<limit>;w=<window seconds>"). Later drafts merge
// them into structured RateLimit and RateLimit-Policy fields; this form is
// the one clients and proxies widely read today.
const (
	HeaderRateLimitLimit     = "RateLimit-Limit"
	HeaderRateLimitRemaining = "RateLimit-Remaining"
	HeaderRateLimitReset     = "RateLimit-Reset"
	HeaderRateLimitPolicy    = "RateLimit-Policy"
)

// HeaderStatus tells nginx, whose auth_request passes on only 401 and 403,
// the status the verifier means: 429 for a request over its limit (see
// docs/proxies/nginx.conf).
const HeaderStatus = "X-Keyward-Status"

var tooManyRequests = []string{"429"}

// The header map's keys, canonical as net/http looks them up.
var (
	canonicalStatus    = http.CanonicalHeaderKey(HeaderStatus)
	canonicalLimit     = http.CanonicalHeaderKey(HeaderRateLimitLimit)
	canonicalRemaining = http.CanonicalHeaderKey(HeaderRateLimitRemaining)
	canonicalReset     = http.CanonicalHeaderKey(HeaderRateLimitReset)
	canonicalPolicy    = http.CanonicalHeaderKey(HeaderRateLimitPolicy)
)

func writeRateLimitHeaders(hdr http.Header, s *RateLimitStatus) {
	hdr[canonicalLimit] = []string{strconv.FormatInt(s.Limit, 10)}
	hdr[canonicalRemaining] = []string{strconv.FormatInt(s.Remaining, 10)}
	hdr[canonicalReset] = []string{strconv.FormatInt(s.ResetSeconds, 10)}
	hdr[canonicalPolicy] = []string{strconv.FormatInt(s.Limit, 10) + ";w=" + strconv.FormatInt(s.WindowSeconds, 10) + `;name="` + s.Policy + `"`}
}
