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
	"testing"

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
