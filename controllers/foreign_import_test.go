package controllers

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// managerLookupKey reads the lookup key the manager made in the verifier's
// namespace.
func managerLookupKey(g Gomega) (*keys.LookupKey, []byte) {
	sec := &corev1.Secret{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: verifierNamespace, Name: record.LookupKeySecretName}, sec)).To(Succeed())
	g.Expect(sec.Type).To(Equal(LookupKeySecretType))
	g.Expect(sec.Labels).To(HaveKeyWithValue(record.RecordLabel, record.LookupKeyLabelValue))
	l, err := keys.NewLookupKey(sec.Data[record.LookupKeyDataKey])
	g.Expect(err).NotTo(HaveOccurred())
	return l, sec.Data[record.LookupKeyDataKey]
}

// The same foreign key imported in a second namespace is refused like a
// key-ID takeover: nothing names the first, whose record stays as it was.
// A revoked foreign key cannot come back either: its tombstone keeps the
// lookup ID.
func TestAttackAForeignKeyImportedTwiceIsRefused(t *testing.T) {
	g := NewWithT(t)
	ownerNS, attackerNS := newNamespace(t), newNamespace(t)
	const foreign = "sk_live_51HxForeignKeyHeldByItsOwner"
	src := importSecret(g, ownerNS, "legacy", keywardv1.ImportSecretType, foreign)
	owner := createReady(g, newAPIKey(ownerNS, "owner-key", importingSecret("legacy")))
	g.Expect(keys.ValidateID(owner.Status.KeyID)).To(Succeed(), "a fresh keyward key ID")
	delivered := deliveredPlaintext(g, owner)
	g.Expect(delivered.IsForeign()).To(BeTrue())
	g.Expect(delivered.Plaintext()).To(Equal(foreign), "the key keeps its own format")
	g.Eventually(gone(src)).WithTimeout(timeout).Should(BeTrue(), "the import Secret is consumed")

	l, lookupSecret := managerLookupKey(g)
	rec := recordFor(g, owner.Status.KeyID)
	g.Expect(rec.Secrets).To(HaveLen(1))
	g.Expect(rec.Secrets[0].LookupID).To(Equal(l.ID(foreign)))
	g.Expect(verifierAccepts(rec, delivered, apiKeyClock.Now())).To(BeTrue())
	before := recordSecret(g, owner.Status.KeyID)
	g.Expect(before.Labels).To(HaveKeyWithValue(record.LookupIDLabel, l.ID(foreign)))

	importSecret(g, attackerNS, "stolen", keywardv1.ImportSecretType, foreign)
	thief := newAPIKey(attackerNS, "thief", importingSecret("stolen"))
	g.Expect(k8s.Create(context.Background(), thief)).To(Succeed())
	msg := refusedImport(g, thief)
	g.Expect(msg).To(ContainSubstring("bound to an existing or revoked key"))
	for _, hidden := range []string{ownerNS, "owner-key", owner.Status.KeyID, foreign, l.ID(foreign)} {
		g.Expect(msg).NotTo(ContainSubstring(hidden))
	}
	g.Expect(recordSecret(g, owner.Status.KeyID).ResourceVersion).To(Equal(before.ResourceVersion), "the owner's record is untouched")
	g.Expect(deliveredPlaintext(g, owner).Plaintext()).To(Equal(foreign))
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: attackerNS, Name: "stolen"}, &corev1.Secret{})).To(Succeed(), "a refused import consumes nothing")

	// Revoked: the secret leaves the record, the label stays.
	patchKey(g, owner, func(k *keywardv1.APIKey) { k.Spec.Revoked = true })
	waitFor(g, owner, keywardv1.RevokedReason)
	tomb := recordSecret(g, owner.Status.KeyID)
	g.Expect(tomb.Labels).To(HaveKeyWithValue(record.LookupIDLabel, l.ID(foreign)))
	revive := newAPIKey(attackerNS, "revive", importingSecret("stolen"))
	g.Expect(k8s.Create(context.Background(), revive)).To(Succeed())
	g.Expect(refusedImport(g, revive)).To(ContainSubstring("bound to an existing or revoked key"))

	// The lookup key is nowhere but its Secret.
	for _, shown := range []string{hex.EncodeToString(lookupSecret), base64.StdEncoding.EncodeToString(lookupSecret), base64.RawURLEncoding.EncodeToString(lookupSecret)} {
		g.Expect(logs.String()).NotTo(ContainSubstring(shown))
		g.Expect(string(tomb.Data[record.DataKey])).NotTo(ContainSubstring(shown))
		for _, k := range []*keywardv1.APIKey{owner, thief, revive} {
			got := &keywardv1.APIKey{}
			g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(k), got)).To(Succeed())
			status, _ := json.Marshal(got.Status)
			g.Expect(string(status)).NotTo(ContainSubstring(shown))
		}
	}
	g.Expect(logs.String()).NotTo(ContainSubstring(foreign))
}

// The first rotation gives a foreign key a keyward-format secret under its
// key ID; the foreign one verifies through the grace period and then
// leaves the record with its lookup ID.
func TestAForeignKeyIsRotatedIntoKeywardFormat(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	const foreign = "0b9c3a4e-7d1f-4c2b-9a8e-5f6d7c8b9a0e"
	importSecret(g, ns, "legacy", keywardv1.ImportSecretType, foreign)
	key := createReady(g, newAPIKey(ns, "imported", importingSecret("legacy"), func(k *keywardv1.APIKey) {
		k.Spec.Rotation = &keywardv1.Rotation{Trigger: "t0", GracePeriodSeconds: ptr.To[int64](600)}
	}))
	legacy := deliveredPlaintext(g, key)
	g.Expect(legacy.Plaintext()).To(Equal(foreign))

	// Nothing is lost or reissued on later reconciles.
	advance(g, time.Second, key)
	key = waitFor(g, key, keywardv1.KeyReadyReason)
	g.Expect(key.Status.SecretGeneration).To(Equal(int64(1)))
	g.Expect(deliveredPlaintext(g, key).Plaintext()).To(Equal(foreign))

	rotateByTrigger(g, key, "t1")
	var minted keys.Key
	g.Eventually(func(g Gomega) {
		prev, ok := deliveredField(g, key, DeliveryPreviousKeyField)
		g.Expect(ok).To(BeTrue())
		g.Expect(prev.Plaintext()).To(Equal(foreign))
		minted = deliveredPlaintext(g, key)
		g.Expect(minted.IsForeign()).To(BeFalse())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(minted.ID()).To(Equal(key.Status.KeyID))
	_, err := keys.Parse(minted.Plaintext())
	g.Expect(err).NotTo(HaveOccurred(), "keyward's format")
	rec := recordFor(g, key.Status.KeyID)
	g.Expect(rec.LookupIDs()).To(HaveLen(1))
	g.Expect(verifierAccepts(rec, minted, apiKeyClock.Now())).To(BeTrue())
	g.Expect(verifierAccepts(rec, legacy, apiKeyClock.Now())).To(BeTrue(), "during the grace period")

	advance(g, 601*time.Second, key)
	g.Eventually(func(g Gomega) {
		rec := recordFor(g, key.Status.KeyID)
		g.Expect(rec.Secrets).To(HaveLen(1))
		g.Expect(rec.LookupIDs()).To(BeEmpty(), "the lookup ID leaves with the foreign secret")
		g.Expect(verifierAccepts(rec, legacy, apiKeyClock.Now())).To(BeFalse())
		g.Expect(verifierAccepts(rec, minted, apiKeyClock.Now())).To(BeTrue())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(recordSecret(g, key.Status.KeyID).Labels).To(HaveKey(record.LookupIDLabel), "the label outlives it")
}
