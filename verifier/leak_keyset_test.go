package verifier

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// Attack: an https key-set URL that redirects to plain http (a hijacked
// path, a misconfigured proxy) would let whoever sits on the wire choose
// the keys reports are believed by.
func TestAttackLeakKeySetRedirectToHTTPIsRefused(t *testing.T) {
	g := NewWithT(t)
	rep := testutil.NewLeakReporter()
	defer rep.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := rep.Client().Get(rep.URL())
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(w, resp.Body)
	}))
	defer plain.Close()
	redir := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL, http.StatusFound)
	}))
	defer redir.Close()
	lr, err := NewLeakReports(LeakReportsConfig{GitHub: &GitHubLeaksConfig{PublicKeysURL: redir.URL}},
		LeakReportsOptions{Sink: &recordingSink{}, HTTPClient: redir.Client(), Clock: clocktesting.NewFakeClock(t0)})
	g.Expect(err).NotTo(HaveOccurred())
	err = lr.github.keys.refresh(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring("https only")))
	g.Expect(lr.github.keys.get("key-1")).To(BeNil(), "key set read over http after a redirect")
}

func pemPublic(g *WithT, pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	g.Expect(err).NotTo(HaveOccurred())
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func keySet(g *WithT, entries map[string]string) []byte {
	type entry struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	}
	var set struct {
		PublicKeys []entry `json:"public_keys"`
	}
	for id, k := range entries {
		set.PublicKeys = append(set.PublicKeys, entry{id, k, true})
	}
	b, err := json.Marshal(set)
	g.Expect(err).NotTo(HaveOccurred())
	return b
}

// A key of another algorithm beside GitHub's P-256 keys is skipped, not a
// reason to refuse the set; a malformed key still refuses it whole.
func TestLeakKeySetSkipsOtherAlgorithmsAndRefusesMalformedKeys(t *testing.T) {
	g := NewWithT(t)
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	g.Expect(err).NotTo(HaveOccurred())

	keys, skipped, err := parseReporterKeys(keySet(g, map[string]string{
		"p256": pemPublic(g, &p256.PublicKey), "p384": pemPublic(g, &p384.PublicKey), "rsa": pemPublic(g, &rsaKey.PublicKey),
	}))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(keys).To(HaveKey("p256"))
	g.Expect(keys).To(HaveLen(1))
	g.Expect(skipped).To(ConsistOf(ContainSubstring("p384"), ContainSubstring("rsa")))

	malformed := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("not DER")}))
	_, _, err = parseReporterKeys(keySet(g, map[string]string{"p256": pemPublic(g, &p256.PublicKey), "bad": malformed}))
	g.Expect(err).To(MatchError(ContainSubstring("public_keys")))

	_, _, err = parseReporterKeys(keySet(g, map[string]string{"rsa": pemPublic(g, &rsaKey.PublicKey)}))
	g.Expect(err).To(MatchError(ContainSubstring("no ECDSA P-256 key")))
}

// rotatedGitHubKey has the shape of GitHub's key identifiers.
const rotatedGitHubKey = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a"

// Attack: reports with random identifiers, to spend GitHub's
// unauthenticated quota (60 reads an hour per address) so that the
// verifier cannot read GitHub's keys when it needs to.
func TestAttackRandomIdentifiersCannotSpendGitHubsQuota(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, nil)
	body := report("keyward_not_a_key")
	rec, _ := lf.send(signed(lf.rep, "key-1", body))
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	g.Expect(lf.rep.Fetches()).To(Equal(int64(1)))
	for i := range 60 {
		lf.keysClock.Step(time.Minute)
		for _, id := range []string{"r" + strconv.Itoa(i), strings.Repeat(strconv.Itoa(i%10), 64)} {
			r := signed(lf.rep, "key-1", body)
			r.Header.Set(HeaderGitHubKeyID, id)
			rec, _ := lf.send(r)
			g.Expect(rec.Code).To(Equal(http.StatusUnauthorized))
		}
	}
	// An hour of attempts: only identifiers shaped like GitHub's cause a
	// read, at most one per 15 minutes.
	g.Expect(lf.rep.Fetches()).To(BeNumerically("<=", 1+4))
}

// A 403 with GitHub's rate-limit headers stops every read, scheduled or
// for a new identifier, until the reset; the last good set stays in use.
func TestLeakKeySetBacksOffWhenRateLimited(t *testing.T) {
	g := NewWithT(t)
	lf := newLeakFixture(t, nil)
	body := report("keyward_not_a_key")
	rec, _ := lf.send(signed(lf.rep, "key-1", body))
	g.Expect(rec.Code).To(Equal(http.StatusOK))

	reset := t0.Add(30 * time.Minute)
	lf.rep.SetRateLimited(reset)
	keys := lf.v.leaks.github.keys
	g.Expect(keys.refresh(t.Context())).To(MatchError(ContainSubstring("rate limited")))
	fetched := lf.rep.Fetches()
	lf.keysClock.Step(20 * time.Minute) // past minRefresh, before the reset
	g.Expect(keys.refresh(t.Context())).To(MatchError(ContainSubstring("limits reads until")))
	r := signed(lf.rep, "key-1", body)
	r.Header.Set(HeaderGitHubKeyID, rotatedGitHubKey)
	rec, _ = lf.send(r)
	g.Expect(rec.Code).To(Equal(http.StatusUnauthorized))
	g.Expect(lf.rep.Fetches()).To(Equal(fetched), "the rate-limited server was asked again before its reset")
	rec, _ = lf.send(signed(lf.rep, "key-1", body))
	g.Expect(rec.Code).To(Equal(http.StatusOK), "the last good set stays in use")

	lf.rep.SetRateLimited(time.Time{})
	lf.keysClock.Step(11 * time.Minute)
	g.Expect(keys.refresh(t.Context())).To(Succeed())
}
