package redteam

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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/signingrecord"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/verifier"
)

// ensureIssuer creates the cluster's issuer SigningKey (a cluster
// administrator's object, in the verifier namespace) once.
func ensureIssuer(t *testing.T, g *WithT) *keywardv1.SigningKey {
	t.Helper()
	ctx := context.Background()
	sk := &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: "issuer"},
		Spec: keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeIssuer, Issuer: &keywardv1.IssuerKey{
			TokenLifetimeSeconds: ptr.To[int64](300),
		}},
	}
	if err := admin.Create(ctx, sk); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	g.Eventually(func(g Gomega) {
		g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(sk), sk)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(sk.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue())
	}).WithTimeout(waitFor).Should(Succeed())
	return sk
}

// issuedToken gets an access token for a key by client credentials.
func issuedToken(ctx context.Context, keyID, secret string) (string, error) {
	cc := clientcredentials.Config{ClientID: keyID, ClientSecret: secret, TokenURL: publicURL + verifier.TokenPath}
	tok, err := cc.Token(ctx)
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// TestAttackIssuerKidCollision: a tenant fetches the issuer's public JWK
// from the JWKS and enrolls it as a client SigningKey in its own
// namespace. The kid is the issuer's: the enrollment is refused, the
// issuer's signing Secret keeps its private key, and tokens are still
// issued and accepted, cluster-wide.
func TestAttackIssuerKidCollision(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	issuer := ensureIssuer(t, g)
	victim, mallory := newTenant(t, g, "victim"), newTenant(t, g, "mallory")
	vk := victim.createKey(t, g, "reports", keywardv1.APIKeySpec{
		Owner: "victim", Scopes: readScope, AuthMethods: []keywardv1.AuthMethod{keywardv1.AuthMethodClientCredentials},
	})
	victimSecret := victim.delivered(g, "reports")
	g.Eventually(func(g Gomega) {
		_, err := issuedToken(ctx, vk.Status.KeyID, victimSecret)
		g.Expect(testutil.ErrorText(err)).To(BeEmpty())
	}).WithTimeout(waitFor).Should(Succeed())

	res, err := http.Get(publicURL + verifier.JWKSPath)
	g.Expect(err).NotTo(HaveOccurred())
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	g.Expect(json.Unmarshal(body, &set)).To(Succeed())
	g.Expect(set.Keys).NotTo(BeEmpty())
	issuerJWK := string(set.Keys[0])

	mallory.createKey(t, g, "device", keywardv1.APIKeySpec{
		Owner: "mallory", Scopes: readScope, AuthMethods: []keywardv1.AuthMethod{keywardv1.AuthMethodClientAssertion},
	})
	enrolErr := mallory.c.Create(ctx, &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: mallory.ns, Name: "stolen-kid"},
		Spec: keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeClient, Owner: "mallory",
			Client: &keywardv1.ClientKey{APIKeyName: "device", PublicKey: issuerJWK}},
	})

	// Whatever admission said, the issuer keeps signing and its tokens
	// keep verifying.
	kid := issuer.Status.Keys[0].KID
	g.Consistently(func(g Gomega) {
		sec := &corev1.Secret{}
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: verifierNamespace, Name: signingrecord.SecretName(kid)}, sec)).To(Succeed())
		g.Expect(sec.Data).To(HaveKey(signingrecord.PrivateKeyDataKey), "the issuer's private key is still there")
		access, err := issuedToken(ctx, vk.Status.KeyID, victimSecret)
		g.Expect(testutil.ErrorText(err)).To(BeEmpty(), "the token endpoint still issues tokens")
		g.Expect(reason(g, access)).To(BeEmpty(), "issued tokens are still accepted")
	}).WithTimeout(5 * time.Second).Should(Succeed())

	g.Expect(enrolErr).To(HaveOccurred(), "enrolling a published kid is refused at admission")
	g.Expect(enrolErr.Error()).To(ContainSubstring(kid))
}
