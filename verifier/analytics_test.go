package verifier

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	kwtestutil "github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/internal/usage"
)

// geoCountries is the generated GeoIP database of these tests.
var geoCountries = map[string]string{
	"192.0.2.0/24":    "DE",
	"198.51.100.0/24": "JP",
	"203.0.113.0/24":  "FR",
	"2001:db8:7::/48": "BR",
}

// analyticsFixture is a verifier with a generated GeoIP database and a
// forward-auth handler (traefik's style) in front of it, the client's
// address in X-Forwarded-For.
type analyticsFixture struct {
	*fixture
	h http.Handler
}

func newAnalyticsFixture(t *testing.T, o Options, c Config) *analyticsFixture {
	t.Helper()
	c.GeoIP.DatabasePath = kwtestutil.WriteGeoIPDatabase(t, "", geoCountries)
	geo, err := LoadGeoIP(c.GeoIP)
	if err != nil {
		t.Fatal(err)
	}
	o.GeoIP = geo
	f := newFixture(t, o)
	h, err := newTestHandler(f.v, c)
	if err != nil {
		t.Fatal(err)
	}
	return &analyticsFixture{fixture: f, h: h}
}

// send asks about GET uri with credential from the client at address, with
// extra headers, and returns the status.
func (f *analyticsFixture) send(credential, address, uri string, extra ...string) int {
	r := httptest.NewRequest(http.MethodGet, TraefikPath, nil)
	r.Header.Set("Authorization", "Bearer "+credential)
	r.Header.Set("X-Forwarded-Method", http.MethodGet)
	r.Header.Set("X-Forwarded-Uri", uri)
	r.Header.Set("X-Forwarded-For", address)
	for i := 0; i+1 < len(extra); i += 2 {
		r.Header.Set(extra[i], extra[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w.Code
}

const (
	readURI   = "/acme/payments/investigations/INV-7"
	deleteURI = "/acme/payments/evidence/E-1"
)

// wrongSecret is a credential that names k's key ID with another secret.
func wrongSecret(t *testing.T, k *issued) string {
	t.Helper()
	other, err := keys.Generate(k.key.ID())
	if err != nil {
		t.Fatal(err)
	}
	return other.Plaintext()
}

// Real requests through the handler: permits and verified denials are the
// key's use, placed by the GeoIP database; wrong secrets naming the key
// are unverified denials; an unknown key counts nowhere.
func TestActivityCountsRequestsThroughTheHandler(t *testing.T) {
	g := NewWithT(t)
	f := newAnalyticsFixture(t, Options{}, Config{})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)

	for range 5 {
		g.Expect(f.send(k.key.Plaintext(), "192.0.2.10", readURI)).To(Equal(200))
	}
	for range 2 {
		g.Expect(f.send(k.key.Plaintext(), "198.51.100.20", readURI)).To(Equal(200))
	}
	g.Expect(f.send(k.key.Plaintext(), "2001:db8:7:1::5", "/acme/payments/evidence")).To(Equal(403), "out of scope: a verified denial")
	wrong := wrongSecret(t, k)
	for range 5 {
		g.Expect(f.send(wrong, "203.0.113.9", readURI)).To(Equal(401))
	}
	unknown, _ := keys.Generate("")
	g.Expect(f.send(unknown.Plaintext(), "192.0.2.10", readURI)).To(Equal(401))

	r := f.v.ActivityReport(usage.MaxActivityKeys)
	g.Expect(r.Keys).To(HaveLen(1), "only the known key")
	minutes := r.Keys[k.key.ID()]
	g.Expect(minutes).To(HaveLen(1))
	m := minutes[0]
	g.Expect(m.Start).To(Equal(t0))
	g.Expect(m.Permits).To(BeEquivalentTo(7))
	g.Expect(m.VerifiedDenials).To(BeEquivalentTo(1))
	g.Expect(m.UnverifiedDenials).To(BeEquivalentTo(5))
	g.Expect(m.Denials).To(Equal(map[string]uint32{"insufficient_scope": 1, "invalid_secret": 4, "too_many_failures": 1}),
		"the fifth wrong secret from one source meets the backoff")
	g.Expect(m.Countries).To(Equal([]analytics.Count{{Value: "DE", N: 5}, {Value: "JP", N: 2}, {Value: "BR", N: 1}}))
	g.Expect(m.Networks).To(Equal([]analytics.Count{{Value: "192.0.2.0/24", N: 5}, {Value: "198.51.100.0/24", N: 2}, {Value: "2001:db8:7::/48", N: 1}}))
	g.Expect(m.Validate()).To(Succeed())
	g.Expect(r.Latency.Decisions).To(BeEquivalentTo(14), "every decision is timed, the unknown key's too")
	g.Expect(r.Latency.P50).To(BeNumerically(">", 0))
	g.Expect(r.Latency.P99).To(BeNumerically(">=", r.Latency.P50))
	g.Expect(f.v.ActivityReport(usage.MaxActivityKeys).Latency).To(BeZero(), "latency starts afresh each report")
}

// An attacker who read a victim's key ID and sends wrong secrets from a new
// country and network never makes the key look used there: the victim's
// permits, countries and networks stay as its own traffic made them.
func TestAttackWrongSecretsNeverMoveAKey(t *testing.T) {
	g := NewWithT(t)
	f := newAnalyticsFixture(t, Options{}, Config{})
	victim := f.issue("acme/payments/investigations:read")
	f.publish(victim)
	for range 3 {
		g.Expect(f.send(victim.key.Plaintext(), "192.0.2.10", readURI)).To(Equal(200))
	}
	wrong := wrongSecret(t, victim)
	for i := range 50 {
		// Many sources, to get past the per-source backoff; an edge
		// header naming yet another country is not believed (none is
		// configured).
		f.send(wrong, "198.51.100."+strconv.Itoa(i+1), readURI, "X-Country", "KP")
	}
	m := f.v.ActivityReport(usage.MaxActivityKeys).Keys[victim.key.ID()][0]
	g.Expect(m.Permits).To(BeEquivalentTo(3))
	g.Expect(m.VerifiedDenials).To(BeZero())
	g.Expect(m.UnverifiedDenials).To(BeEquivalentTo(50))
	g.Expect(m.Countries).To(Equal([]analytics.Count{{Value: "DE", N: 3}}))
	g.Expect(m.Networks).To(Equal([]analytics.Count{{Value: "192.0.2.0/24", N: 3}}))
}

// A flood of made-up key IDs creates no entry: only keys the index knows
// are counted, and at most MaxKeys of them.
func TestActivityUnknownKeyFloodGrowsNothing(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{Analytics: AnalyticsConfig{MaxKeys: 2}})
	for range 10_000 {
		k, err := keys.Generate("")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(f.decide(k.Plaintext(), inScope, access.Environment{}).Reason).To(Equal(ReasonUnknownKey))
	}
	g.Expect(f.v.activity.tracked.Load()).To(BeZero())

	var ks []*issued
	for range 3 {
		k := f.issue("acme/payments/investigations:read")
		f.publish(k)
		ks = append(ks, k)
		g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
	}
	g.Expect(f.v.activity.tracked.Load()).To(BeEquivalentTo(2), "the cap")
	g.Expect(f.v.activity.dropped.Load()).To(BeEquivalentTo(1))
	g.Expect(f.v.ActivityReport(usage.MaxActivityKeys).Keys).To(HaveLen(2))

	// Idle for the minutes a report carries, the keys free their places.
	f.clock.Step(usage.ActivityMinutes * time.Minute)
	g.Expect(f.v.ActivityReport(usage.MaxActivityKeys).Keys).To(BeEmpty())
	g.Expect(f.v.activity.tracked.Load()).To(BeZero())
	g.Expect(f.decide(ks[2].key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
	g.Expect(f.v.ActivityReport(usage.MaxActivityKeys).Keys).To(HaveKey(ks[2].key.ID()))
}

// A report carries each key's latest ActivityMinutes minutes, oldest
// first, busiest key first; past the limit, keys are counted in Omitted.
func TestActivityReportWindowAndOrder(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	busy, quiet := f.issue("acme/payments/investigations:read"), f.issue("acme/payments/investigations:read")
	f.publish(busy)
	f.publish(quiet)
	for minute := range usage.ActivityMinutes + 1 {
		for range minute + 2 {
			f.decide(busy.key.Plaintext(), inScope, access.Environment{})
		}
		f.clock.Step(time.Minute)
	}
	f.decide(quiet.key.Plaintext(), inScope, access.Environment{})
	r := f.v.ActivityReport(1)
	g.Expect(r.Omitted).To(Equal(1))
	g.Expect(r.Keys).To(HaveKey(busy.key.ID()))
	var permits []uint32
	var starts []time.Time
	for _, m := range r.Keys[busy.key.ID()] {
		permits, starts = append(permits, m.Permits), append(starts, m.Start)
	}
	// Minutes t0+2 and t0+3 carry 4 and 5 permits; the current minute,
	// t0+4, has none yet, and the older ones fell out of the window.
	g.Expect(starts).To(Equal([]time.Time{t0.Add(2 * time.Minute), t0.Add(3 * time.Minute)}))
	g.Expect(permits).To(Equal([]uint32{4, 5}))
	_, err := usage.EncodeActivity(r)
	g.Expect(err).NotTo(HaveOccurred())
}

// Off, nothing is counted and reports are empty.
func TestActivityOff(t *testing.T) {
	g := NewWithT(t)
	off := false
	f := newFixture(t, Options{Analytics: AnalyticsConfig{Enabled: &off}})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
	r := f.v.ActivityReport(usage.MaxActivityKeys)
	g.Expect(r.Keys).To(BeEmpty())
	g.Expect(r.Latency).To(BeZero())
	g.Expect(f.v.ActivityAggregation()).To(BeEmpty())
}

func TestAnalyticsConfigErrors(t *testing.T) {
	g := NewWithT(t)
	_, err := New(NewIndex(), Options{Analytics: AnalyticsConfig{Aggregation: AggregationRedis}})
	g.Expect(err).To(MatchError(ContainSubstring(`analytics.aggregation: redis uses the rate limits' Redis, but rateLimits.store is ""`)))
	err = Config{Analytics: AnalyticsConfig{Aggregation: "kafka"}}.Validate()
	g.Expect(err).To(MatchError(`analytics.aggregation: "kafka" is not embedded or redis`))
	err = Config{Analytics: AnalyticsConfig{MaxKeys: -1}}.Validate()
	g.Expect(err).To(MatchError(ContainSubstring("analytics.maxKeys must be positive")))
	err = Config{GeoIP: GeoIPConfig{DatabasePath: "/nonexistent/GeoLite2-Country.mmdb"}}.Validate()
	g.Expect(err).To(MatchError(And(ContainSubstring("geoip.databasePath"), ContainSubstring("/nonexistent/GeoLite2-Country.mmdb"))))
	_, err = LoadConfig(writeConfig(t, "geoip:\n  databasePath: x.mmdb\n  path: y\n"))
	g.Expect(err).To(MatchError(ContainSubstring(`unknown field "path"`)))
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := t.TempDir() + "/verifier.yaml"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A country condition works without an edge header, from the database; a
// trusted edge header, when present, wins over it.
func TestCountryConditionFromGeoIP(t *testing.T) {
	g := NewWithT(t)
	f := newAnalyticsFixture(t, Options{}, Config{CountryHeader: "X-Country"})
	k := f.issue("acme/payments/investigations:read")
	k.rec.Conditions = access.Conditions{Countries: []string{"DE"}}
	f.publish(k)
	g.Expect(f.send(k.key.Plaintext(), "192.0.2.10", readURI)).To(Equal(200), "DE by the database")
	g.Expect(f.send(k.key.Plaintext(), "198.51.100.1", readURI)).To(Equal(403), "JP by the database")
	g.Expect(f.send(k.key.Plaintext(), "10.0.0.1", readURI)).To(Equal(403), "an address the database does not know fails closed")
	g.Expect(f.send(k.key.Plaintext(), "198.51.100.1", readURI, "X-Country", "DE")).To(Equal(200), "the edge's header wins")
	g.Expect(f.send(k.key.Plaintext(), "192.0.2.10", readURI, "X-Country", "JP")).To(Equal(403), "the edge's header wins")

	// The decision API: a trusted caller's stated country wins; without
	// one, its stated address is placed by the database.
	c := Config{TrustedCallers: []string{"192.0.2.0/24"}}
	c.GeoIP.DatabasePath = kwtestutil.WriteGeoIPDatabase(t, "", geoCountries)
	h, err := newTestHandler(f.v, c)
	g.Expect(err).NotTo(HaveOccurred())
	decide := func(env string) Result {
		body := `{"subject":{"credential":"` + k.key.Plaintext() + `"},"resource":{"org":"acme","project":"payments","type":"investigations"},"action":{"id":"read"},"environment":` + env + `}`
		r := httptest.NewRequest(http.MethodPost, DecisionPath, strings.NewReader(body))
		r.RemoteAddr = "192.0.2.250:40000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var d Decision
		g.Expect(json.Unmarshal(w.Body.Bytes(), &d)).To(Succeed())
		return d.Result
	}
	g.Expect(decide(`{"address":"192.0.2.10"}`)).To(Equal(Permit))
	g.Expect(decide(`{"address":"198.51.100.1"}`)).To(Equal(Deny))
	g.Expect(decide(`{"address":"198.51.100.1","country":"DE"}`)).To(Equal(Permit))
}

func TestLatencyQuantiles(t *testing.T) {
	g := NewWithT(t)
	var h latencyHistogram
	for range 98 {
		h.observe(100 * time.Microsecond)
	}
	h.observe(40 * time.Millisecond)
	h.observe(50 * time.Millisecond)
	l := h.take()
	g.Expect(l.Decisions).To(BeEquivalentTo(100))
	g.Expect(l.P50).To(And(BeNumerically(">=", 100*time.Microsecond), BeNumerically("<", 142*time.Microsecond)))
	g.Expect(l.P99).To(And(BeNumerically(">=", 40*time.Millisecond), BeNumerically("<", 57*time.Millisecond)))
	for _, d := range []time.Duration{1, 2, 3, 1000, 1499, 1500, time.Second, time.Hour} {
		b := latencyBucket(d)
		g.Expect(latencyUpper(b)).To(BeNumerically(">=", d), "bucket %d of %v", b, d)
		if b > 0 {
			g.Expect(latencyUpper(b-1)).To(BeNumerically("<=", d), "bucket %d of %v", b, d)
		}
	}
}

// The top-k keeps any value seen more than a quarter of the time, with a
// count never below its true count.
func TestTopKKeepsFrequentValues(t *testing.T) {
	g := NewWithT(t)
	var k topK[[2]byte]
	for i := range 400 {
		if i%3 == 0 {
			k.add([2]byte{'D', 'E'})
		} else {
			k.add([2]byte{byte('A' + i%26), byte('A' + i/26%26)})
		}
	}
	cs := k.counts(analytics.MaxCountries, func(c [2]byte) string { return string(c[:]) })
	g.Expect(cs).To(HaveLen(analytics.MaxCountries))
	g.Expect(cs[0].Value).To(Equal("DE"))
	g.Expect(cs[0].N).To(BeNumerically(">=", 134))
}

// Decisions counted while reports sweep the key away as idle: no count
// goes to an entry no longer in the table, and the count of tracked keys
// stays exact (run with -race).
func TestActivityCountsWhileReportsSweep(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	a := f.v.activity
	e, _ := f.index.Lookup(k.key.ID())
	env := snapshotEnv("DE", addr("192.0.2.1"))
	const workers, each = 4, 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			a.snapshot(t0.Add(time.Hour))
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				a.record(Decision{Result: Permit, KeyID: k.key.ID(), entry: e}, &env, t0, time.Microsecond)
			}
		})
	}
	wg.Wait()
	<-done
	a.snapshot(t0.Add(time.Hour))
	g.Expect(a.tracked.Load()).To(BeZero())
	for range each {
		a.record(Decision{Result: Permit, KeyID: k.key.ID(), entry: e}, &env, t0, time.Microsecond)
	}
	g.Expect(a.tracked.Load()).To(BeEquivalentTo(1))
	g.Expect(f.v.ActivityReport(usage.MaxActivityKeys).Keys[k.key.ID()][0].Permits).To(BeEquivalentTo(each))
}

// A client secret at the token endpoint is the key itself: a good one
// counts as the key's use, a wrong one naming it as an unverified denial;
// a token's use counts as its key's.
func TestActivityCountsTokenEndpointAndTokens(t *testing.T) {
	g := NewWithT(t)
	f := newOAuthFixture(t, OAuthConfig{})
	f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
	k := f.issueWithMethods([]string{record.AuthClientCredentials}, "acme/payments/investigations:read")
	tokenRequest := func(secret string) *httptest.ResponseRecorder {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {k.key.ID()}, "client_secret": {secret}}
		r := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		f.handler.ServeHTTP(w, r)
		return w
	}
	w := tokenRequest(k.key.Plaintext())
	g.Expect(w.Code).To(Equal(200), w.Body.String())
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	g.Expect(json.Unmarshal(w.Body.Bytes(), &tok)).To(Succeed())
	wrong := wrongSecret(t, k)
	for range 2 {
		g.Expect(tokenRequest(wrong).Code).To(Equal(401))
	}
	g.Expect(f.forward(tok.AccessToken, "/acme/payments/investigations/INV-7").Code).To(Equal(200))

	m := f.v.ActivityReport(usage.MaxActivityKeys).Keys[k.key.ID()][0]
	g.Expect(m.Permits).To(BeEquivalentTo(2))
	g.Expect(m.UnverifiedDenials).To(BeEquivalentTo(2))
	g.Expect(m.Denials).To(Equal(map[string]uint32{"invalid_secret": 2}))
}
