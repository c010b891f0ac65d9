package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	. "github.com/onsi/gomega"
	"golang.org/x/oauth2/clientcredentials"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/signingrecord"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/internal/token"
	"github.com/keyward-dev/keyward/verifier"
)

// ensureIssuer creates the cluster's issuer SigningKey, once for every
// test that needs tokens.
func ensureIssuer(t *testing.T, g *WithT) {
	t.Helper()
	ctx := context.Background()
	sk := &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: "issuer"},
		// The shortest publish-ahead the API allows, so a test can watch a
		// rotation hand over on the real clock.
		Spec: keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeIssuer, Issuer: &keywardv1.IssuerKey{
			PublishAheadSeconds: ptrTo[int64](10), TokenLifetimeSeconds: ptrTo[int64](300),
		}},
	}
	if err := k8s.Create(ctx, sk); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	g.Eventually(func(g Gomega) {
		got := &keywardv1.SigningKey{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sk), got)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue())
	}).WithTimeout(waitFor).Should(Succeed())
}

// TestClientCredentialsThroughTheWholeChain: an issuer SigningKey and an
// APIKey applied to the API server; a token from the real x/oauth2 client
// at the verifier's token endpoint; validated by jwx against the JWKS the
// verifier serves; accepted by forward-auth; denied the moment the APIKey
// is revoked, minutes before the token expires.
func TestClientCredentialsThroughTheWholeChain(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureIssuer(t, g)
	ns := newNamespace(t, g)
	plaintext, k := applyMethodKey(t, g, ns, "reporting", keywardv1.AuthMethodClientCredentials,
		"acme/payments/investigations:read", "acme/payments/evidence:read")

	cc := clientcredentials.Config{
		ClientID: k.ID(), ClientSecret: plaintext, TokenURL: publicURL + verifier.TokenPath,
		Scopes: []string{"acme/payments/investigations:read"},
	}
	var access string
	g.Eventually(func(g Gomega) {
		tok, err := cc.Token(ctx)
		g.Expect(testutil.ErrorText(err)).To(BeEmpty())
		access = tok.AccessToken
	}).WithTimeout(waitFor).Should(Succeed())

	res, err := http.Get(publicURL + verifier.JWKSPath)
	g.Expect(err).NotTo(HaveOccurred())
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	set, err := jwk.Parse(body)
	g.Expect(err).NotTo(HaveOccurred())
	parsed, err := jwt.Parse([]byte(access), jwt.WithKeySet(set), jwt.WithIssuer(publicURL), jwt.WithAudience(publicURL))
	g.Expect(err).NotTo(HaveOccurred())
	sub, _ := parsed.Subject()
	g.Expect(sub).To(Equal(k.ID()))

	envoy := endpoints[0]
	status, reason := envoy.send(g, access, "GET", "/acme/payments/investigations/INV-7", nil)
	g.Expect(status).To(Equal(http.StatusOK), reason)
	status, reason = envoy.send(g, access, "GET", "/acme/payments/evidence/E-1", nil)
	g.Expect(status).To(Equal(http.StatusForbidden), reason)
	// The key itself may not be sent with requests: only tokens.
	status, reason = envoy.send(g, plaintext, "GET", "/acme/payments/investigations/INV-7", nil)
	g.Expect(reason).To(Equal(string(verifier.ReasonAuthMethodNotAllowed)))
	g.Expect(status).To(Equal(http.StatusUnauthorized))

	patchSpec(g, ns, "reporting", `{"spec":{"revoked":true}}`)
	g.Eventually(func(g Gomega) {
		status, reason := envoy.send(g, access, "GET", "/acme/payments/investigations/INV-7", nil)
		g.Expect(reason).To(Equal(string(verifier.ReasonRevoked)))
		g.Expect(status).To(Equal(http.StatusUnauthorized))
	}).WithTimeout(waitFor).Should(Succeed())
	exp, _ := parsed.Expiration()
	g.Expect(time.Until(exp)).To(BeNumerically(">", time.Minute), "denied well before the token's own expiry")
}

// TestEvictionReachesTheVerifierWithinASecond: a client whose clock
// jumped is locked out; an admin's evict on its SigningKey lets it back
// in within a second, through the manager and the record watch.
func TestEvictionReachesTheVerifierWithinASecond(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	g.Eventually(watch.Ready).WithTimeout(waitFor).Should(BeTrue())
	ns := newNamespace(t, g)
	_, k := applyMethodKey(t, g, ns, "device", keywardv1.AuthMethodClientAssertion, "acme/payments/investigations:read")
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	g.Expect(err).NotTo(HaveOccurred())
	sk := &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "laptop"},
		Spec: keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeClient, Owner: "15a6",
			Client: &keywardv1.ClientKey{APIKeyName: "device", PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}},
	}
	g.Expect(k8s.Create(ctx, sk)).To(Succeed())

	kid, err := signingrecord.KID(priv.Public())
	g.Expect(err).NotTo(HaveOccurred())
	signer, err := token.NewSigner(kid, priv)
	g.Expect(err).NotTo(HaveOccurred())
	assertion := func(g Gomega, clientClock time.Time) string {
		raw, err := token.Sign(signer, token.Claims{
			Issuer: k.ID(), Subject: k.ID(), Audience: []string{publicURL},
			IssuedAt: clientClock, Expiry: clientClock.Add(5 * time.Minute),
		})
		g.Expect(err).NotTo(HaveOccurred())
		return raw
	}
	envoy := endpoints[0]
	g.Eventually(func(g Gomega) {
		_, reason := envoy.send(g, assertion(g, time.Now()), "GET", "/acme/payments/investigations/INV-7", nil)
		g.Expect(reason).To(Equal(string(verifier.ReasonAllowed)))
	}).WithTimeout(waitFor).Should(Succeed())

	// The client's clock jumps four minutes back: locked out, and still
	// locked out once its clock is right again.
	_, reason := envoy.send(g, assertion(g, time.Now().Add(-4*time.Minute)), "GET", "/acme/payments/investigations/INV-7", nil)
	g.Expect(reason).To(Equal(string(verifier.ReasonClientClockSkew)))
	_, reason = envoy.send(g, assertion(g, time.Now()), "GET", "/acme/payments/investigations/INV-7", nil)
	g.Expect(reason).To(Equal(string(verifier.ReasonClientClockSkew)))

	g.Expect(k8s.Patch(ctx, sk, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"evict":"ticket-42"}}`)))).To(Succeed())
	evicted := time.Now()
	g.Eventually(func(g Gomega) {
		_, reason := envoy.send(g, assertion(g, time.Now()), "GET", "/acme/payments/investigations/INV-7", nil)
		g.Expect(reason).To(Equal(string(verifier.ReasonAllowed)))
	}).WithTimeout(time.Second).WithPolling(20 * time.Millisecond).Should(Succeed())
	t.Logf("the verifier let the client back in %v after the evict was applied", time.Since(evicted).Round(time.Millisecond))
}

// TestIssuerRotationThroughTheWholeChain: a rotation requested on the
// SigningKey reaches the verifier's JWKS at once; tokens keep the old kid
// until the publish-ahead time has passed, then carry the new one, and a
// token of the old key keeps working through the overlap.
func TestIssuerRotationThroughTheWholeChain(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureIssuer(t, g)
	ns := newNamespace(t, g)
	plaintext, k := applyMethodKey(t, g, ns, "rotation", keywardv1.AuthMethodClientCredentials, "acme/payments/investigations:read")
	cc := clientcredentials.Config{ClientID: k.ID(), ClientSecret: plaintext, TokenURL: publicURL + verifier.TokenPath}
	kidOf := func(raw string) string {
		parsed, err := jws.Parse([]byte(raw))
		g.Expect(err).NotTo(HaveOccurred())
		kid, _ := parsed.Signatures()[0].ProtectedHeaders().KeyID()
		return kid
	}
	jwks := func(g Gomega) (kids []string, cache string) {
		res, err := http.Get(publicURL + verifier.JWKSPath)
		g.Expect(err).NotTo(HaveOccurred())
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		set, err := jwk.Parse(body)
		g.Expect(err).NotTo(HaveOccurred())
		for i := range set.Len() {
			key, _ := set.Key(i)
			kid, _ := key.KeyID()
			kids = append(kids, kid)
		}
		return kids, res.Header.Get("Cache-Control")
	}
	var before string
	g.Eventually(func(g Gomega) {
		tok, err := cc.Token(ctx)
		g.Expect(testutil.ErrorText(err)).To(BeEmpty())
		before = tok.AccessToken
	}).WithTimeout(waitFor).Should(Succeed())
	oldKID := kidOf(before)

	sk := &keywardv1.SigningKey{ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: "issuer"}}
	g.Expect(k8s.Patch(ctx, sk, client.RawPatch("application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"keyward.dev/rotate":"`+time.Now().Format(time.RFC3339Nano)+`"}}}`)))).To(Succeed())
	rotated := time.Now()
	var newKID string
	g.Eventually(func(g Gomega) {
		kids, cache := jwks(g)
		g.Expect(kids).To(HaveLen(2))
		g.Expect(kids).To(ContainElement(oldKID))
		g.Expect(cache).To(MatchRegexp(`max-age=(10|[0-9])$`), "no cache may keep the JWKS past the handover")
		for _, kid := range kids {
			if kid != oldKID {
				newKID = kid
			}
		}
	}).WithTimeout(5 * time.Second).Should(Succeed())
	if time.Since(rotated) < 8*time.Second {
		tok, err := cc.Token(ctx)
		g.Expect(testutil.ErrorText(err)).To(BeEmpty())
		g.Expect(kidOf(tok.AccessToken)).To(Equal(oldKID), "published ahead, not signing yet")
	}
	g.Eventually(func(g Gomega) {
		tok, err := cc.Token(ctx)
		g.Expect(testutil.ErrorText(err)).To(BeEmpty())
		g.Expect(kidOf(tok.AccessToken)).To(Equal(newKID))
	}).WithTimeout(20 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	g.Expect(time.Since(rotated)).To(BeNumerically(">=", 9*time.Second), "the new key signs only after the publish-ahead time")

	status, reason := endpoints[0].send(g, before, "GET", "/acme/payments/investigations/INV-7", nil)
	g.Expect(status).To(Equal(http.StatusOK), reason)
	kids, _ := jwks(g)
	g.Expect(kids).To(ConsistOf(oldKID, newKID), "the old key stays published until its last token expired")
}

// applyMethodKey creates a key of owner 15a6 that authenticates only by
// method, and returns its plaintext and parsed form.
func applyMethodKey(t *testing.T, g *WithT, ns, name string, method keywardv1.AuthMethod, scopes ...keywardv1.Scope) (string, keys.Key) {
	t.Helper()
	plaintext := applyKey(t, g, ns, name, keywardv1.APIKeySpec{
		Owner: "15a6", Scopes: scopes, AuthMethods: []keywardv1.AuthMethod{method},
	})
	k, err := keys.Parse(plaintext)
	g.Expect(err).NotTo(HaveOccurred())
	return plaintext, k
}
