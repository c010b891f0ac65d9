package integration

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
)

// Keys taken over from another system verify at the verifier like minted
// ones, with the imported hash's own iteration count; the first rotation
// (no grace period here) leaves only a keyward-minted secret under the
// same key ID.
func TestImportedKeysVerifyAndRotateIntoKeywardsFormat(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, g)
	envoy := endpoints[0]
	scopes := []keywardv1.Scope{"acme/payments/investigations:read"}
	status := func(g Gomega, key string) int {
		s, _ := envoy.send(g, key, "GET", "/acme/payments/investigations", trusted(nil))
		return s
	}

	byHash, err := keys.Generate("")
	g.Expect(err).NotTo(HaveOccurred())
	h, err := keys.NewHasher(keys.MinImportIterations, true)
	g.Expect(err).NotTo(HaveOccurred())
	phc, err := h.Hash(byHash)
	g.Expect(err).NotTo(HaveOccurred())

	byPlain, err := keys.Generate("")
	g.Expect(err).NotTo(HaveOccurred())
	src := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy"},
		Type:       keywardv1.ImportSecretType,
		Data:       map[string][]byte{"token": []byte(byPlain.Plaintext())},
	}
	g.Expect(k8s.Create(ctx, src)).To(Succeed())

	grace := int64(0)
	for name, imp := range map[string]*keywardv1.KeyImport{
		"by-hash":  {KeyID: byHash.ID(), Hash: phc},
		"by-plain": {SecretRef: &keywardv1.ImportSecretReference{Name: "legacy", Key: "token"}},
	} {
		g.Expect(k8s.Create(ctx, &keywardv1.APIKey{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: keywardv1.APIKeySpec{Owner: "15a6", Scopes: scopes, Import: imp,
				Rotation: &keywardv1.Rotation{Trigger: "imported", GracePeriodSeconds: &grace}},
		})).To(Succeed())
	}
	for _, k := range []keys.Key{byHash, byPlain} {
		g.Eventually(func(g Gomega) { g.Expect(status(g, k.Plaintext())).To(Equal(200)) }).WithTimeout(waitFor).Should(Succeed())
	}
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(src), &corev1.Secret{}))
	}).WithTimeout(waitFor).Should(BeTrue(), "the import Secret is consumed")

	for name, imported := range map[string]keys.Key{"by-hash": byHash, "by-plain": byPlain} {
		patchSpec(g, ns, name, `{"spec":{"rotation":{"trigger":"rotated"}}}`)
		var minted keys.Key
		g.Eventually(func(g Gomega) {
			var s corev1.Secret
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s)).To(Succeed())
			minted, err = keys.Parse(string(s.Data["key"]))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(minted.Equal(imported)).To(BeFalse())
			g.Expect(status(g, minted.Plaintext())).To(Equal(200))
			g.Expect(status(g, imported.Plaintext())).To(Equal(401), "the imported secret stops verifying when the grace period ends")
		}).WithTimeout(waitFor).Should(Succeed(), name)
		g.Expect(minted.ID()).To(Equal(imported.ID()), name+": the key ID stays")
	}
}

// A key of another system's format, imported as plaintext, verifies at the
// verifier as it is presented today; the first rotation gives the key a
// keyward-format secret, and the foreign key is denied once the grace
// period ends.
func TestAForeignKeyVerifiesAndRotatesIntoKeywardsFormat(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, g)
	envoy := endpoints[0]
	status := func(g Gomega, key string) int {
		s, _ := envoy.send(g, key, "GET", "/acme/payments/investigations", trusted(nil))
		return s
	}
	const foreign = "sk_live_51HxLegacyKeyFromTheOldSystem"
	g.Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy"},
		Type:       keywardv1.ImportSecretType,
		Data:       map[string][]byte{"key": []byte(foreign)},
	})).To(Succeed())
	grace := int64(15)
	g.Expect(k8s.Create(ctx, &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "foreign"},
		Spec: keywardv1.APIKeySpec{Owner: "15a6", Scopes: []keywardv1.Scope{"acme/payments/investigations:read"},
			Import:   &keywardv1.KeyImport{SecretRef: &keywardv1.ImportSecretReference{Name: "legacy"}},
			Rotation: &keywardv1.Rotation{Trigger: "imported", GracePeriodSeconds: &grace}},
	})).To(Succeed())
	g.Eventually(func(g Gomega) { g.Expect(status(g, foreign)).To(Equal(200)) }).WithTimeout(waitFor).Should(Succeed())
	g.Expect(status(g, foreign+"x")).To(Equal(401), "another foreign-looking credential")

	patchSpec(g, ns, "foreign", `{"spec":{"rotation":{"trigger":"rotated"}}}`)
	var minted keys.Key
	g.Eventually(func(g Gomega) {
		var s corev1.Secret
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "foreign"}, &s)).To(Succeed())
		var err error
		minted, err = keys.Parse(string(s.Data["key"]))
		g.Expect(err).NotTo(HaveOccurred(), "a keyward-format secret")
		g.Expect(string(s.Data["keyID"])).To(Equal(minted.ID()), "under the key's own key ID")
		g.Expect(status(g, minted.Plaintext())).To(Equal(200))
	}).WithTimeout(waitFor).Should(Succeed())
	g.Expect(status(g, foreign)).To(Equal(200), "the foreign key keeps its grace period")
	g.Eventually(func(g Gomega) {
		g.Expect(status(g, foreign)).To(Equal(401), "the foreign key stops verifying when the grace period ends")
	}).WithTimeout(waitFor + time.Duration(grace)*time.Second).Should(Succeed())
	g.Expect(status(g, minted.Plaintext())).To(Equal(200))
}
