package outage

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"golang.org/x/oauth2/clientcredentials"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/signingrecord"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/internal/token"
	"github.com/keyward-dev/keyward/test/integration/harness"
	"github.com/keyward-dev/keyward/verifier"
)

// TestAStalledSigningWatchMakesTokensStale: the signing-key watch stalls
// while lists and the record watch go through, and the issuer key is
// withdrawn on the API server meanwhile. Its token is permitted only until
// the staleness bound, then Indeterminate, and the verifier is not ready,
// naming the signing-key watch; its API keys, whose records are current,
// are still decided. Once the stall ends the withdrawal is seen.
func TestAStalledSigningWatchMakesTokensStale(t *testing.T) {
	g := NewWithT(t)
	const maxStaleness = 4 * time.Second
	proxy, err := testutil.NewAPIProxy(env.Config)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(proxy.Close)
	v := startVerifier(t, g, proxy.Config(), maxStaleness)
	issuer, rec := publishIssuerKey(t, g)
	ns := newNamespace(g)
	plaintext := applyKeySpec(g, ns, "tokens-behind-a-stall", keywardv1.APIKeySpec{
		Owner: "15a6", Scopes: []keywardv1.Scope{"acme/payments/investigations:read"},
		AuthMethods: []keywardv1.AuthMethod{keywardv1.AuthMethodAPIKey, keywardv1.AuthMethodClientCredentials},
	})
	eventually(g, v, plaintext, verifier.ReasonAllowed, waitFor)
	access := issueToken(g, v, plaintext)
	eventually(g, v, access, verifier.ReasonAllowed, waitFor)
	g.Expect(jwksKIDs(g, v)).To(ContainElement(rec.KID))

	// The signing-key watch and its heartbeat's probes deliver nothing;
	// lists, the record watch and every other request go through.
	stalled := time.Now()
	proxy.StallWatchesOf(signingrecord.Label)
	withdraw(g, issuer, rec)
	tr := serve(v, access)
	staleAt := eventually(g, v, access, verifier.ReasonStale, maxStaleness+5*time.Second)
	contact := v.Signing.LastContact()
	code, text := readiness(v)
	g.Expect(code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(text).To(ContainSubstring("signing-key watch"))
	g.Expect(jwksStatus(g, v)).To(Equal(http.StatusServiceUnavailable), "the JWKS may still hold the withdrawn key")
	d, err := decide(v, plaintext)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d.Reason).To(Equal(verifier.ReasonAllowed), "the records are current: API keys are still decided")
	g.Consistently(func() int { return readyz(v) }).WithTimeout(time.Second).Should(Equal(http.StatusServiceUnavailable))
	g.Expect(v.Signing.LastContact()).To(Equal(contact), "nothing was known of the signing keys while their watch stalled")

	restored := time.Now()
	g.Expect(proxy.Restore()).To(Succeed())
	seen := eventually(g, v, access, verifier.ReasonTokenUnknownKID, waitFor)
	g.Eventually(func() int { return readyz(v) }).WithTimeout(waitFor).Should(Equal(http.StatusOK))
	g.Expect(jwksKIDs(g, v)).NotTo(ContainElement(rec.KID))
	answers, errs := tr.end()
	g.Expect(errs).To(BeZero())

	// The withdrawn key's token was permitted from what the verifier knew
	// while the bound allowed it, and never after.
	bound := contact.Add(maxStaleness)
	g.Expect(bound).To(BeTemporally(">", stalled), "the signing keys were known current shortly before the stall")
	var staleAnswers int
	for _, a := range answers {
		if a.Result == verifier.Permit {
			g.Expect(a.came).To(BeTemporally("<", bound), "permitted at %v, past the staleness bound", a.came)
		}
		if a.sent.After(bound) && a.came.Before(restored) {
			g.Expect(a.Reason).To(Equal(verifier.ReasonStale), "answered %v, past the staleness bound", a.came)
			staleAnswers++
		}
	}
	g.Expect(staleAnswers).To(BeNumerically(">", 0))
	t.Logf("stalled signing-key watch: last contact %v before the stall; tokens Indeterminate %v after it (--max-staleness %v); the withdrawal seen %v after it ended",
		stalled.Sub(contact).Round(time.Millisecond), staleAt.Sub(stalled).Round(time.Millisecond), maxStaleness,
		seen.Sub(restored).Round(time.Millisecond))
}

// publishIssuerKey writes an issuer signing key into the verifier's
// namespace as the manager publishes one, signing since a minute ago.
func publishIssuerKey(t *testing.T, g *WithT) (*corev1.Secret, signingrecord.Record) {
	priv, err := signingrecord.GenerateKey(token.RS256, token.MinRSABits)
	g.Expect(err).NotTo(HaveOccurred())
	kid, err := signingrecord.KID(priv.Public())
	g.Expect(err).NotTo(HaveOccurred())
	jwk, err := signingrecord.PublicJWKJSON(kid, token.RS256, priv.Public())
	g.Expect(err).NotTo(HaveOccurred())
	pemKey, err := signingrecord.EncodePrivateKey(priv)
	g.Expect(err).NotTo(HaveOccurred())
	since := time.Now().Add(-time.Minute).Truncate(time.Second)
	rec := signingrecord.Record{
		Schema: signingrecord.Schema, KID: kid, Mode: signingrecord.Issuer, Algorithm: token.RS256, PublicJWK: jwk,
		PublishAt: since, SignFrom: since, TokenLifetime: 5 * time.Minute, PublishAhead: 10 * time.Second, Version: 1,
	}
	data, err := signingrecord.Encode(rec)
	g.Expect(err).NotTo(HaveOccurred())
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: signingrecord.SecretName(kid),
			Labels: map[string]string{signingrecord.Label: "true", signingrecord.KIDLabel: kid}},
		Data: map[string][]byte{signingrecord.DataKey: data, signingrecord.PrivateKeyDataKey: pemKey},
	}
	g.Expect(k8s.Create(context.Background(), sec)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), sec) })
	return sec, rec
}

// withdraw takes an issuer key out of the JWKS on the API server: it
// stopped signing before its tokens' lifetime and was withdrawn since.
func withdraw(g *WithT, sec *corev1.Secret, rec signingrecord.Record) {
	now := time.Now().Truncate(time.Second)
	until, withdrawn := now.Add(-2*rec.TokenLifetime), now.Add(-rec.TokenLifetime)
	rec.SignUntil, rec.WithdrawAt, rec.Version = &until, &withdrawn, rec.Version+1
	data, err := signingrecord.Encode(rec)
	g.Expect(err).NotTo(HaveOccurred())
	latest := &corev1.Secret{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(sec), latest)).To(Succeed())
	latest.Data[signingrecord.DataKey] = data
	g.Expect(k8s.Update(context.Background(), latest)).To(Succeed())
}

// issueToken gets an access token from the verifier's token endpoint with
// the key as the client secret, as an OAuth client does.
func issueToken(g *WithT, v *harness.Verifier, plaintext string) string {
	k, err := keys.Parse(plaintext)
	g.Expect(err).NotTo(HaveOccurred())
	cc := clientcredentials.Config{ClientID: k.ID(), ClientSecret: plaintext, TokenURL: v.PublicURL + verifier.TokenPath}
	var access string
	g.Eventually(func(g Gomega) {
		tok, err := cc.Token(context.Background())
		g.Expect(testutil.ErrorText(err)).To(BeEmpty())
		access = tok.AccessToken
	}).WithTimeout(waitFor).Should(Succeed())
	return access
}

func jwksStatus(g *WithT, v *harness.Verifier) int {
	res, err := http.Get(v.PublicURL + verifier.JWKSPath)
	g.Expect(err).NotTo(HaveOccurred())
	_ = res.Body.Close()
	return res.StatusCode
}

// jwksKIDs are the kids the verifier's JWKS publishes.
func jwksKIDs(g *WithT, v *harness.Verifier) []string {
	res, err := http.Get(v.PublicURL + verifier.JWKSPath)
	g.Expect(err).NotTo(HaveOccurred())
	defer res.Body.Close()
	g.Expect(res.StatusCode).To(Equal(http.StatusOK))
	body, err := io.ReadAll(res.Body)
	g.Expect(err).NotTo(HaveOccurred())
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	g.Expect(json.Unmarshal(body, &set)).To(Succeed())
	kids := make([]string, 0, len(set.Keys))
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	return kids
}
