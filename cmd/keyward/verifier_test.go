package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestVerifierRefusesABadConfiguration(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown field":     {"realm: keyward\ntrustedHops: 2\n", `unknown field "trustedHops"`},
		"bad route":         {"routes:\n- path: /{org}/{project}\n", `routes[0] ("/{org}/{project}"): the route neither captures {type} nor fixes type`},
		"bad network class": {"networkClasses:\n  corp: [10.0.0.0/33]\n", "networkClasses: "},
		"bad header":        {"apiKeyHeaders: [Authorization]\n", `apiKeyHeaders[0]: "Authorization" is not a usable header name`},
		"missing CA file":   {"clientCertificates:\n  authorities: [{name: corp, caFile: /nonexistent/corp.pem}]\n", "clientCertificates.authorities[0] (corp): open /nonexistent/corp.pem"},
		"forwarded format":  {"clientCertificates:\n  forwarded: {format: haproxy, trustedHops: [10.0.0.0/8]}\n", `clientCertificates.forwarded.format: "haproxy" is not Envoy, Nginx or Traefik`},
		"public forwarded":  {"clientCertificates:\n  publicForwarded: {format: Nginx}\n", `clientCertificates.publicForwarded.trustedHops: required`},
		"forwarded typo":    {"clientCertificates:\n  forwarded: {format: Nginx, trustedHop: [10.0.0.0/8]}\n", `unknown field "trustedHop"`},
		"missing GeoIP db":  {"geoip:\n  databasePath: /nonexistent/GeoLite2-City.mmdb\n", "geoip.databasePath: geoip database /nonexistent/GeoLite2-City.mmdb: stat /nonexistent/GeoLite2-City.mmdb: no such file or directory"},
		"analytics redis":   {"analytics:\n  aggregation: redis\n", `analytics.aggregation: redis uses the rate limits' Redis, but rateLimits.store is ""`},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			path := filepath.Join(t.TempDir(), "verifier.yaml")
			g.Expect(os.WriteFile(path, []byte(tc.yaml), 0o600)).To(Succeed())
			err := runVerifier([]string{"--config=" + path})
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
			g.Expect(err.Error()).To(ContainSubstring(path))
		})
	}
}

func TestVerifierRefusesAStalenessBoundItsHeartbeatCannotKeep(t *testing.T) {
	g := NewWithT(t)
	err := runVerifier([]string{"--max-staleness=20s", "--heartbeat=10s"})
	g.Expect(err).To(MatchError("--max-staleness=20s: must exceed twice --heartbeat (10s) and a second, 21s, or be 0 to never stop permitting"))
	g.Expect(runVerifier([]string{"--heartbeat=0s"})).To(MatchError("--heartbeat=0s: must be positive"))
	g.Expect(checkStaleness(0, 10*time.Second)).To(Succeed(), "0: never stop")
	g.Expect(checkStaleness(5*time.Minute, 10*time.Second)).To(Succeed(), "the defaults")
}

func TestVerifierRefusesACountingOfDenialsThatCountsNothing(t *testing.T) {
	g := NewWithT(t)
	g.Expect(runVerifier([]string{"--audit-denial-interval=-1s"})).To(MatchError("--audit-denial-interval=-1s: must be positive, or 0 for a line per denial"))
	g.Expect(runVerifier([]string{"--audit-denial-groups=0"})).To(MatchError("--audit-denial-groups=0: must be at least 1"))
	g.Expect(accessLog(nil, verifierOptions{auditDenialInterval: 0, auditDenialGroups: 5}).Interval).To(BeNumerically("<", 0), "0 on the command line: a line per denial")
	g.Expect(accessLog(nil, verifierOptions{auditDenialInterval: time.Second}).Interval).To(Equal(time.Second))
}
