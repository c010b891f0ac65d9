package webhook

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/signingrecord"
)

// TestSigningKeyRefusesAPublishedKid: a client key whose kid already has a
// signing-key Secret in the verifier namespace (an issuer's or another
// client's, in any namespace) is refused, naming the kid; an unpublished
// kid is admitted, and so are later updates of the key that holds it.
func TestSigningKeyRefusesAPublishedKid(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: verifierNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	ns := namespaceWithLabels(t, nil)
	g.Expect(k8s.Create(ctx, key(ns, "assertions", func(k *keywardv1.APIKey) {
		k.Spec.AuthMethods = []keywardv1.AuthMethod{keywardv1.AuthMethodClientAssertion}
	}))).To(Succeed())
	newPub := func() (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		kid, _ := signingrecord.KID(k.Public())
		return pemBlock(t, "PUBLIC KEY", der, err), kid
	}
	sk := func(name, pub string) *keywardv1.SigningKey {
		return &keywardv1.SigningKey{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeClient, Owner: "15a6",
				Client: &keywardv1.ClientKey{APIKeyName: "assertions", PublicKey: pub}},
		}
	}

	taken, kid := newPub()
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Namespace: verifierNamespace, Name: signingrecord.SecretName(kid),
		Labels: map[string]string{signingrecord.Label: "true", signingrecord.KIDLabel: kid, signingrecord.SigningKeyUIDLabel: "another-signing-key"},
	}})).To(Succeed())
	err := k8s.Create(ctx, sk("copy", taken))
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
	g.Expect(err.Error()).To(ContainSubstring("spec.client.publicKey"))
	g.Expect(err.Error()).To(ContainSubstring("kid " + kid + " "))
	g.Expect(err.Error()).To(ContainSubstring("already published by another SigningKey"))

	free, freeKID := newPub()
	own := sk("own", free)
	g.Expect(k8s.Create(ctx, own)).To(Succeed())
	// Once published for this SigningKey, the kid does not stop its own
	// updates (the manager's finalizer, an eviction).
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Namespace: verifierNamespace, Name: signingrecord.SecretName(freeKID),
		Labels: map[string]string{signingrecord.Label: "true", signingrecord.KIDLabel: freeKID, signingrecord.SigningKeyUIDLabel: string(own.UID)},
	}})).To(Succeed())
	own.Spec.Evict = "ticket-1"
	g.Expect(k8s.Update(ctx, own)).To(Succeed())
}
