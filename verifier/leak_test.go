package verifier

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
)

func TestLeakReportOfALiveKeyDeniesItAtOnce(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, nil)
	k := lf.issue("acme/payments/investigations:read")
	lf.publish(k)
	g.Expect(lf.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))

	rec, fb := lf.send(signed(lf.rep, "key-1", report(k.key.Plaintext())))
	g.Expect(rec.Code).To(Equal(http.StatusOK), rec.Body.String())
	g.Expect(fb).To(Equal([]tokenFeedback{{TokenHash: tokenSHA256(k.key.Plaintext()), TokenType: "keyward_api_key", Label: LabelTruePositive}}))
	g.Expect(rec.Body.String()).NotTo(ContainSubstring(k.key.Plaintext()))

	d := lf.decide(k.key.Plaintext(), inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Deny))
	g.Expect(d.Reason).To(Equal(ReasonRevoked))
	g.Expect(d.Message).To(ContainSubstring("leaked"))

	got := lf.sink.all()
	g.Expect(got).To(HaveLen(1))
	g.Expect(got[0].KeyID).To(Equal(k.key.ID()))
	g.Expect(got[0].Serial).To(Equal("1"))
	g.Expect(got[0].TokenSHA256).To(Equal(tokenSHA256(k.key.Plaintext())))
	g.Expect(got[0].URL).To(Equal(leakURL))
	g.Expect(got[0].Source).To(Equal("content"))
}

// The attacker read a victim's key ID (it is public: in logs, in prefixes)
// and publishes it with a made-up secret whose checksum is right, hoping
// GitHub reports it and keyward revokes the victim's key.
func TestAttackLeakReportOfAForgedSecretRevokesNothing(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, nil)
	victim := lf.issue("acme/payments/investigations:read")
	lf.publish(victim)
	forged, err := keys.Generate(victim.key.ID())
	g.Expect(err).NotTo(HaveOccurred())
	_, err = keys.Parse(forged.Plaintext())
	g.Expect(err).NotTo(HaveOccurred(), "the forgery passes the format and checksum")

	rec, fb := lf.send(signed(lf.rep, "key-1", report(forged.Plaintext())))
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	g.Expect(fb).To(ConsistOf(HaveField("Label", LabelFalsePositive)))
	g.Expect(lf.sink.all()).To(BeEmpty())
	g.Expect(lf.decide(victim.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))

	// Sent again (GitHub retries, or the attacker publishes it twice): no
	// second PBKDF2 for a forgery already decided against this record.
	hashed := lf.v.HashesRun()
	_, fb = lf.send(signed(lf.rep, "key-1", report(forged.Plaintext())))
	g.Expect(fb).To(ConsistOf(HaveField("Label", LabelFalsePositive)))
	g.Expect(lf.v.HashesRun()).To(Equal(hashed))
}

func TestLeakReportWithAWrongChecksumIsFalseWithoutHashing(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, nil)
	k := lf.issue("acme/payments/investigations:read")
	lf.publish(k)
	p := k.key.Plaintext()
	last := "A"
	if strings.HasSuffix(p, "A") {
		last = "B"
	}
	bad := p[:len(p)-1] + last

	rec, fb := lf.send(signed(lf.rep, "key-1", report(bad, "keyward_not_a_key", "")))
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	g.Expect(fb).To(HaveLen(3))
	g.Expect(fb).To(HaveEach(HaveField("Label", LabelFalsePositive)))
	g.Expect(lf.v.HashesRun()).To(BeZero())
	g.Expect(lf.sink.all()).To(BeEmpty())
	g.Expect(lf.decide(p, inScope, access.Environment{}).Result).To(Equal(Permit))
}

func TestLeakReportOfARevokedOrExpiredKeyChangesNothing(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, nil)
	revoked := lf.issue("acme/payments/investigations:read")
	revokedAt := t0.Add(-time.Minute)
	revoked.rec.State, revoked.rec.Secrets, revoked.rec.RevokedAt = record.Revoked, nil, &revokedAt
	lf.publish(revoked)
	expired := lf.issue("acme/payments/investigations:read")
	expiresAt := t0.Add(-time.Minute)
	expired.rec.ExpiresAt = &expiresAt
	lf.publish(expired)

	rec, fb := lf.send(signed(lf.rep, "key-1", report(revoked.key.Plaintext(), expired.key.Plaintext())))
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	// A revoked key's record holds no hash to tell its secret from a
	// forgery; an expired key's does, and it is a real key.
	g.Expect(fb).To(HaveExactElements(HaveField("Label", LabelFalsePositive), HaveField("Label", LabelTruePositive)))
	g.Expect(lf.sink.all()).To(BeEmpty())
}

func TestLeakReportReplayedChangesNothingTheSecondTime(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, nil)
	k := lf.issue("acme/payments/investigations:read")
	lf.publish(k)
	body := report(k.key.Plaintext())
	req := signed(lf.rep, "key-1", body)
	sig := req.Header.Get(HeaderGitHubSignature)

	_, first := lf.send(req)
	replay := httptest.NewRequest(http.MethodPost, GitHubLeaksPath, strings.NewReader(string(body)))
	replay.Header.Set(HeaderGitHubKeyID, "key-1")
	replay.Header.Set(HeaderGitHubSignature, sig)
	rec, second := lf.send(replay)
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	g.Expect(second).To(Equal(first))
	g.Expect(lf.sink.all()).To(HaveLen(1))
}

func TestLeakReportSignatureRefusals(t *testing.T) {
	lf := newLeakFixture(t, nil)
	k := lf.issue("acme/payments/investigations:read")
	lf.publish(k)
	body := report(k.key.Plaintext())
	stranger := testutil.NewLeakReporter() // a key pair not in the configured set
	t.Cleanup(stranger.Close)
	for name, tc := range map[string]struct {
		req  func() *http.Request
		want string
	}{
		"no identifier": {func() *http.Request {
			r := signed(lf.rep, "key-1", body)
			r.Header.Del(HeaderGitHubKeyID)
			return r
		}, HeaderGitHubKeyID + " header is missing"},
		"no signature": {func() *http.Request {
			r := signed(lf.rep, "key-1", body)
			r.Header.Del(HeaderGitHubSignature)
			return r
		}, HeaderGitHubSignature + " header is missing"},
		"signature not base64": {func() *http.Request {
			r := signed(lf.rep, "key-1", body)
			r.Header.Set(HeaderGitHubSignature, "%%%")
			return r
		}, "not base64"},
		"unknown identifier": {func() *http.Request {
			r := signed(stranger, "key-1", body)
			r.Header.Set(HeaderGitHubKeyID, "key-unknown")
			return r
		}, "names no key of the configured public key set"},
		"signed by a key not in the set": {func() *http.Request {
			return signed(stranger, "key-1", body)
		}, "does not verify"},
		"body changed after signing": {func() *http.Request {
			r := signed(lf.rep, "key-1", body)
			r2 := httptest.NewRequest(http.MethodPost, GitHubLeaksPath, strings.NewReader(string(report(k.key.Plaintext(), "x"))))
			r2.Header = r.Header
			return r2
		}, "does not verify"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			rec, _ := lf.send(tc.req())
			g.Expect(rec.Code).To(Equal(http.StatusUnauthorized))
			g.Expect(rec.Body.String()).To(ContainSubstring(tc.want))
			g.Expect(lf.sink.all()).To(BeEmpty())
			g.Expect(lf.v.HashesRun()).To(BeZero())
		})
	}
	g := NewWithT(t)
	g.Expect(lf.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
}

func TestLeakReportBounds(t *testing.T) {
	lf := newLeakFixture(t, func(c *GitHubLeaksConfig) { c.MaxTokens = 2; c.MaxBodyBytes = 4096 })
	for name, tc := range map[string]struct {
		body []byte
		code int
		want string
	}{
		"too many tokens": {report("a", "b", "c"), http.StatusRequestEntityTooLarge, "3 tokens, more than 2"},
		"too large":       {[]byte(`[{"token":"` + strings.Repeat("a", 5000) + `"}]`), http.StatusRequestEntityTooLarge, "exceeds 4096 bytes"},
		"not an array":    {[]byte(`{"token":"a"}`), http.StatusBadRequest, "not a JSON array"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			rec, _ := lf.send(signed(lf.rep, "key-1", tc.body))
			g.Expect(rec.Code).To(Equal(tc.code))
			g.Expect(rec.Body.String()).To(ContainSubstring(tc.want))
		})
	}
}

func TestLeakReporterKeysRefreshOnAnUnknownIdentifierAtMostOncePerInterval(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, func(c *GitHubLeaksConfig) { c.MinRefreshIntervalSeconds = 60 })
	body := report("keyward_not_a_key")
	rec, _ := lf.send(signed(lf.rep, "key-1", body))
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	g.Expect(lf.rep.Fetches()).To(Equal(int64(1)))

	// Random identifiers: one read of the set, then none until the
	// interval has passed.
	for _, id := range []string{"r1", "r2", "r3", "r4"} {
		r := signed(lf.rep, "key-1", body)
		r.Header.Set(HeaderGitHubKeyID, id)
		rec, _ := lf.send(r)
		g.Expect(rec.Code).To(Equal(http.StatusUnauthorized))
	}
	g.Expect(lf.rep.Fetches()).To(Equal(int64(1)), "the first read was less than a minute ago")

	// GitHub rotates its key: a report signed by the new one verifies
	// once the interval has passed.
	lf.rep.AddKey(rotatedGitHubKey)
	rec, _ = lf.send(signed(lf.rep, rotatedGitHubKey, body))
	g.Expect(rec.Code).To(Equal(http.StatusUnauthorized))
	lf.keysClock.Step(61 * time.Second)
	rec, _ = lf.send(signed(lf.rep, rotatedGitHubKey, body))
	g.Expect(rec.Code).To(Equal(http.StatusOK), rec.Body.String())
	g.Expect(lf.rep.Fetches()).To(Equal(int64(2)))
}

func TestLeakReporterKeysKeepTheLastGoodSetWhenReadingFails(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, nil)
	body := report("keyward_not_a_key")
	rec, _ := lf.send(signed(lf.rep, "key-1", body))
	g.Expect(rec.Code).To(Equal(http.StatusOK))

	lf.rep.SetFailing(true)
	err := lf.v.leaks.github.keys.refresh(t.Context())
	g.Expect(err).To(MatchError(ContainSubstring("503")))
	rec, _ = lf.send(signed(lf.rep, "key-1", body))
	g.Expect(rec.Code).To(Equal(http.StatusOK), "the last good set verifies")
}

func TestLeakReportsConfigRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		c    GitHubLeaksConfig
		want string
	}{
		"no source":     {GitHubLeaksConfig{}, "exactly one of publicKeysURL and publicKeysFile"},
		"two sources":   {GitHubLeaksConfig{PublicKeysURL: "https://x", PublicKeysFile: "/keys.json"}, "exactly one"},
		"plain http":    {GitHubLeaksConfig{PublicKeysURL: "http://api.github.com/meta"}, "not an https URL"},
		"huge body":     {GitHubLeaksConfig{PublicKeysFile: "k", MaxBodyBytes: 100 << 20}, "maxBodyBytes"},
		"many tokens":   {GitHubLeaksConfig{PublicKeysFile: "k", MaxTokens: 5000}, "maxTokens 5000 exceeds 1000"},
		"slow":          {GitHubLeaksConfig{PublicKeysFile: "k", DecideTimeoutSeconds: 30}, "decideTimeoutSeconds 30 exceeds 8"},
		"min > refresh": {GitHubLeaksConfig{PublicKeysFile: "k", RefreshIntervalSeconds: 10, MinRefreshIntervalSeconds: 60}, "exceeds refreshIntervalSeconds"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := Config{LeakReports: LeakReportsConfig{GitHub: &tc.c}}.Validate()
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

func TestLeakReportsAreOffUnlessConfigured(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	hs, err := NewHandlers(f.v, Config{})
	g.Expect(err).NotTo(HaveOccurred())
	rec := httptest.NewRecorder()
	hs.Public.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, GitHubLeaksPath, strings.NewReader("[]")))
	g.Expect(rec.Code).To(Equal(http.StatusNotFound))
}

// A report whose tokens cannot all be hashed in time is answered 503, so
// that GitHub sends it again; the retry is decided once a slot is free.
func TestLeakReportNotDecidedInTimeIsRetried(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, func(c *GitHubLeaksConfig) { c.DecideTimeoutSeconds = 1 })
	k := lf.issue("acme/payments/investigations:read")
	lf.publish(k)
	for range cap(lf.v.hashes.slots) {
		lf.v.hashes.slots <- struct{}{} // every hashing slot taken by other work
	}
	body := report(k.key.Plaintext())
	rec, _ := lf.send(signed(lf.rep, "key-1", body))
	g.Expect(rec.Code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(rec.Header().Get("Retry-After")).NotTo(BeEmpty())
	g.Expect(rec.Body.String()).To(ContainSubstring("send the report again"))
	g.Expect(lf.sink.all()).To(BeEmpty())

	for range cap(lf.v.hashes.slots) {
		<-lf.v.hashes.slots
	}
	rec, fb := lf.send(signed(lf.rep, "key-1", body))
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	g.Expect(fb).To(ConsistOf(HaveField("Label", LabelTruePositive)))
	g.Expect(lf.sink.all()).To(HaveLen(1))
}

// A leak the sink could not take is denied here already, answered 503,
// and handed on when GitHub sends the report again.
func TestLeakReportWhoseHandOverFailedIsHandedOnByTheRetry(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, nil)
	k := lf.issue("acme/payments/investigations:read")
	lf.publish(k)
	lf.sink.failNext = 1
	body := report(k.key.Plaintext())
	rec, _ := lf.send(signed(lf.rep, "key-1", body))
	g.Expect(rec.Code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(lf.decide(k.key.Plaintext(), inScope, access.Environment{}).Reason).To(Equal(ReasonRevoked))
	g.Expect(lf.sink.all()).To(BeEmpty())

	rec, fb := lf.send(signed(lf.rep, "key-1", body))
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	g.Expect(fb).To(ConsistOf(HaveField("Label", LabelTruePositive)))
	g.Expect(lf.sink.all()).To(ConsistOf(HaveField("KeyID", k.key.ID())))
	g.Expect(lf.v.HashesRun()).To(Equal(int64(1)), "the retry needs no second PBKDF2")
}

func TestLeakReportsAreServedOnThePublicDoorOnly(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, nil)
	hs, err := NewHandlers(lf.v, Config{})
	g.Expect(err).NotTo(HaveOccurred())
	body := report("keyward_not_a_key")
	rec := httptest.NewRecorder()
	hs.Decisions.ServeHTTP(rec, signed(lf.rep, "key-1", body))
	g.Expect(rec.Code).To(Equal(http.StatusNotFound))
	rec = httptest.NewRecorder()
	hs.Public.ServeHTTP(rec, signed(lf.rep, "key-1", body))
	g.Expect(rec.Code).To(Equal(http.StatusOK))
}

func TestLeakReportsAreCounted(t *testing.T) {
	g := NewWithT(t)
	rep := testutil.NewLeakReporter()
	t.Cleanup(rep.Close)
	lr, err := NewLeakReports(LeakReportsConfig{GitHub: &GitHubLeaksConfig{PublicKeysURL: rep.URL()}},
		LeakReportsOptions{Sink: &recordingSink{}, HTTPClient: rep.Client()})
	g.Expect(err).NotTo(HaveOccurred())
	f := newFixture(t, Options{LeakReports: lr, Metrics: NewMetrics(prometheus.NewRegistry())})
	hs, err := NewHandlers(f.v, Config{})
	g.Expect(err).NotTo(HaveOccurred())
	body := report("keyward_not_a_key")
	hs.Public.ServeHTTP(httptest.NewRecorder(), signed(rep, "key-1", body))
	unsigned := signed(rep, "key-1", body)
	unsigned.Header.Del(HeaderGitHubSignature)
	hs.Public.ServeHTTP(httptest.NewRecorder(), unsigned)

	m := f.v.metrics
	g.Expect(countOf(g, m.leakReports.WithLabelValues("github", "200"))).To(Equal(1.0))
	g.Expect(countOf(g, m.leakReports.WithLabelValues("github", "401"))).To(Equal(1.0))
	g.Expect(countOf(g, m.leakTokens.WithLabelValues("github", LabelFalsePositive))).To(Equal(1.0))
}

// countOf reads one counter of a vector.
func countOf(g *WithT, c prometheus.Counter) float64 {
	var m dto.Metric
	g.Expect(c.Write(&m)).To(Succeed())
	return m.GetCounter().GetValue()
}

func TestLeakReporterKeysFromAFile(t *testing.T) {
	g := NewWithT(t)
	rep := testutil.NewLeakReporter()
	t.Cleanup(rep.Close)
	resp, err := rep.Client().Get(rep.URL())
	g.Expect(err).NotTo(HaveOccurred())
	set, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	g.Expect(err).NotTo(HaveOccurred())
	file := filepath.Join(t.TempDir(), "github-keys.json")
	g.Expect(os.WriteFile(file, set, 0o600)).To(Succeed())

	lr, err := NewLeakReports(LeakReportsConfig{GitHub: &GitHubLeaksConfig{PublicKeysFile: file}}, LeakReportsOptions{Sink: &recordingSink{}})
	g.Expect(err).NotTo(HaveOccurred())
	f := newFixture(t, Options{LeakReports: lr})
	hs, err := NewHandlers(f.v, Config{})
	g.Expect(err).NotTo(HaveOccurred())
	rec := httptest.NewRecorder()
	hs.Public.ServeHTTP(rec, signed(rep, "key-1", report("keyward_not_a_key")))
	g.Expect(rec.Code).To(Equal(http.StatusOK), rec.Body.String())

	// A set with a key that is not ECDSA P-256 is refused whole.
	g.Expect(os.WriteFile(file, []byte(`{"public_keys":[{"key_identifier":"k","key":"not PEM"}]}`), 0o600)).To(Succeed())
	g.Expect(lr.github.keys.refresh(t.Context())).To(MatchError(ContainSubstring("key is not a PEM PUBLIC KEY")))
	rec = httptest.NewRecorder()
	hs.Public.ServeHTTP(rec, signed(rep, "key-1", report("keyward_not_a_key")))
	g.Expect(rec.Code).To(Equal(http.StatusOK), "the last good set stays")
}
