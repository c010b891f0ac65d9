package verifier

import (
	"net/http"
	"strconv"

	"github.com/keyward-dev/keyward/internal/ratelimit"
)

// The rate-limit fields of the IETF draft "RateLimit header fields for
// HTTP" (draft-ietf-httpapi-ratelimit-headers, the RateLimit-Policy and
// RateLimit pair of its later versions), for the key's limit closest to
// refusing:
//
//	RateLimit-Policy: "per-second";q=20;w=1    (quota q per window w seconds)
//	RateLimit: "per-second";r=17;t=1           (r remaining, t seconds to reset)
//
// Two structured fields rather than the earlier drafts' four
// (RateLimit-Limit, -Remaining, -Reset and -Policy): the draft's current
// form, and half the header lines on every answer of a limited key.
const (
	HeaderRateLimit       = "RateLimit"
	HeaderRateLimitPolicy = "RateLimit-Policy"
)

// HeaderStatus tells nginx, whose auth_request passes on only 401 and 403,
// the status the verifier means: 429 for a request over its limit (see
// docs/proxies/nginx.conf).
const HeaderStatus = "X-Keyward-Status"

var tooManyRequests = []string{"429"}

// The header map's keys, canonical as net/http looks them up.
var (
	canonicalStatus    = http.CanonicalHeaderKey(HeaderStatus)
	canonicalRateLimit = http.CanonicalHeaderKey(HeaderRateLimit)
	canonicalPolicy    = http.CanonicalHeaderKey(HeaderRateLimitPolicy)
)

func writeRateLimitHeaders(hdr http.Header, d Decision) {
	s, e := &d.RateLimit, d.entry
	hdr[canonicalRateLimit] = []string{`"` + s.Policy + `";r=` + strconv.FormatInt(s.Remaining, 10) + ";t=" + strconv.FormatInt(s.ResetSeconds, 10)}
	if e != nil && d.limit < len(e.policyHeaders) && e.policyHeaders[d.limit] != nil {
		hdr[canonicalPolicy] = e.policyHeaders[d.limit]
		return
	}
	hdr[canonicalPolicy] = []string{policyValue(s.Policy, s.Limit, s.WindowSeconds)}
}

func policyValue(name string, quota, window int64) string {
	return `"` + name + `";q=` + strconv.FormatInt(quota, 10) + ";w=" + strconv.FormatInt(window, 10)
}

// policyHeader is the RateLimit-Policy value of a limit, which does not
// change between requests; nil for a quota, whose window is the time left
// in its calendar period.
func policyHeader(l ratelimit.Limit) []string {
	if l.Strategy == ratelimit.Quota {
		return nil
	}
	return []string{policyValue(l.Name, l.Capacity(), ceilSeconds(l.Period))}
}
