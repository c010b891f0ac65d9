package controllers

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/signingrecord"
)

func clientKey(ns, name, apiKey, pub string) *keywardv1.SigningKey {
	return &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: keywardv1.SigningKeySpec{
			Mode: keywardv1.SigningKeyModeClient, Owner: "15a6",
			Client: &keywardv1.ClientKey{APIKeyName: apiKey, PublicKey: pub},
		},
	}
}

// expectKidInUse waits for Ready=False KidInUse on sk, with its Warning
// Event, and then holds that the Secret of kid is exactly as it was.
func expectKidInUse(g *WithT, sk *keywardv1.SigningKey, kid string, before *corev1.Secret) {
	g.Eventually(func(g Gomega) {
		_, c := signingKeyReady(g, sk)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(keywardv1.KidInUseReason))
		g.Expect(c.Message).To(ContainSubstring(kid))
	}, timeout, interval).Should(Succeed())
	g.Eventually(func(g Gomega) []string { return signingEvents(g, sk) }, timeout, interval).Should(ContainElement(keywardv1.KidInUseReason))
	g.Consistently(func(g Gomega) {
		_, sec := signingRecordOf(g, kid)
		g.Expect(sec.ResourceVersion).To(Equal(before.ResourceVersion), "nothing is written to the Secret of another SigningKey")
		g.Expect(sec.Labels).To(HaveKeyWithValue(signingrecord.SigningKeyUIDLabel, before.Labels[signingrecord.SigningKeyUIDLabel]))
		g.Expect(sec.Data).To(Equal(before.Data))
		got := &keywardv1.SigningKey{}
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(sk), got)).To(Succeed())
		g.Expect(got.Status.KID).To(BeEmpty(), "the status names no kid it did not publish")
	}, 2*time.Second, 100*time.Millisecond).Should(Succeed())
}

// TestClientKeyNeverWritesOverTheIssuer: below the webhook (none runs in
// this suite), a client SigningKey enrolling the issuer's public key gets
// Ready=False KidInUse and a Warning; the issuer's Secret, private key
// included, is not touched.
func TestClientKeyNeverWritesOverTheIssuer(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	issuer := newIssuerKey(verifierNamespace, fmt.Sprintf("issuer-%d", mrand.Uint32()))
	g.Expect(k8s.Create(ctx, issuer)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(ctx, issuer) })
	var kid string
	g.Eventually(func(g Gomega) {
		got, c := signingKeyReady(g, issuer)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		kid = got.Status.KID
	}, timeout, interval).Should(Succeed())
	rec, before := signingRecordOf(g, kid)
	g.Expect(before.Data).To(HaveKey(signingrecord.PrivateKeyDataKey))

	ns := newNamespace(t)
	createReady(g, newAPIKey(ns, "device"))
	thief := clientKey(ns, "stolen", "device", string(rec.PublicJWK))
	g.Expect(k8s.Create(ctx, thief)).To(Succeed())
	expectKidInUse(g, thief, kid, before)

	// Deleting the refused SigningKey deletes nothing of the issuer's.
	g.Expect(k8s.Delete(ctx, thief)).To(Succeed())
	g.Eventually(gone(thief), timeout, interval).Should(BeTrue())
	_, after := signingRecordOf(g, kid)
	g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
}

// TestClientKeyNeverWritesOverAnotherClientKey: the same public key
// enrolled in a second namespace does not move the kid there.
func TestClientKeyNeverWritesOverAnotherClientKey(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	_, pub := enrollPEM(g)
	first, second := newNamespace(t), newNamespace(t)
	createReady(g, newAPIKey(first, "device"))
	createReady(g, newAPIKey(second, "device"))
	owner := clientKey(first, "laptop", "device", pub)
	g.Expect(k8s.Create(ctx, owner)).To(Succeed())
	var kid string
	g.Eventually(func(g Gomega) {
		got, c := signingKeyReady(g, owner)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		kid = got.Status.KID
	}, timeout, interval).Should(Succeed())
	_, before := signingRecordOf(g, kid)

	copycat := clientKey(second, "laptop", "device", pub)
	g.Expect(k8s.Create(ctx, copycat)).To(Succeed())
	expectKidInUse(g, copycat, kid, before)
}

// TestClientKeyStaysWithTheAPIKeyItWasEnrolledFor: an APIKey deleted and
// created again under its name is another APIKey; the SigningKey says so
// and its record keeps naming the old key ID and UID.
func TestClientKeyStaysWithTheAPIKeyItWasEnrolledFor(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	old := createReady(g, newAPIKey(ns, "device"))
	_, pub := enrollPEM(g)
	sk := clientKey(ns, "laptop", "device", pub)
	g.Expect(k8s.Create(ctx, sk)).To(Succeed())
	var enrolled *keywardv1.SigningKey
	g.Eventually(func(g Gomega) {
		got, c := signingKeyReady(g, sk)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		enrolled = got
	}, timeout, interval).Should(Succeed())
	g.Expect(enrolled.Status.APIKeyUID).To(Equal(string(old.UID)))
	rec, _ := signingRecordOf(g, enrolled.Status.KID)
	g.Expect(rec.APIKeyUID).To(Equal(string(old.UID)))

	g.Expect(k8s.Delete(ctx, old)).To(Succeed())
	g.Eventually(gone(&keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "device"}}), timeout, interval).Should(BeTrue())
	renewed := createReady(g, newAPIKey(ns, "device"))
	g.Eventually(func(g Gomega) {
		_, c := signingKeyReady(g, sk)
		g.Expect(c.Reason).To(Equal(keywardv1.APIKeyReplacedReason))
		g.Expect(c.Message).To(ContainSubstring("enrol the key again"))
	}, timeout, interval).Should(Succeed())
	g.Eventually(func(g Gomega) []string { return signingEvents(g, sk) }, timeout, interval).Should(ContainElement(keywardv1.APIKeyReplacedReason))
	rec, _ = signingRecordOf(g, enrolled.Status.KID)
	g.Expect(rec.KeyID).To(Equal(old.Status.KeyID))
	g.Expect(rec.KeyID).NotTo(Equal(renewed.Status.KeyID))
	g.Expect(rec.APIKeyUID).To(Equal(string(old.UID)))
}
