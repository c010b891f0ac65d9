package controllers

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// TestARecordFromBeforeTheLedgerKeepsItsKey: records written before
// records named their APIKey and kept a ledger and fingerprints (and
// delivery Secrets that carried serials in annotations) are taken over
// without a new secret: the delivered plaintext is verified once against
// the record's own hash, fingerprinted, and the key goes on verifying.
// Nothing the delivery Secret's annotations say is believed.
func TestARecordFromBeforeTheLedgerKeepsItsKey(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	key := newAPIKey(ns, "legacy", func(k *keywardv1.APIKey) { k.Spec.Suspended = true })
	g.Expect(k8s.Create(ctx, key)).To(Succeed())
	deleteAtEnd(t, key)

	k, err := keys.Generate("")
	g.Expect(err).NotTo(HaveOccurred())
	phc, err := mustHasher(g).Hash(k)
	g.Expect(err).NotTo(HaveOccurred())
	issued := apiKeyClock.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	legacy, err := json.Marshal(map[string]any{
		"schema": record.Schema, "keyID": k.ID(), "owner": "15a6", "state": "active", "version": 3,
		"scopes":  []string{"acme/payments/investigations:read", "acme/payments/evidence:write"},
		"secrets": []map[string]any{{"serial": "a1b2c3d4e5f60718", "hash": phc, "notBefore": issued}},
	})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = record.Decode(legacy)
	g.Expect(err).NotTo(HaveOccurred(), "a record from before decodes")
	// The delivery Secret first: an upgrade finds both in place, and a
	// record alone would be sealed against no delivered plaintext at all.
	g.Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy",
			Labels: map[string]string{ManagedByLabel: ManagedByValue},
			// What deliveries carried then; now neither read nor kept.
			Annotations: map[string]string{"keyward.dev/serial": "a1b2c3d4e5f60718", "keyward.dev/handled-trigger": ""},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: keywardv1.GroupVersion.String(), Kind: "APIKey",
				Name: "legacy", UID: key.UID, Controller: ptr.To(true)}}},
		Type: DeliverySecretType,
		Data: map[string][]byte{DeliveryKeyField: []byte(k.Plaintext()), DeliveryKeyIDField: []byte(k.ID())},
	})).To(Succeed())
	g.Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: record.SecretName(k.ID()),
			Labels: map[string]string{ManagedByLabel: ManagedByValue, record.RecordLabel: "true",
				record.KeyIDLabel: k.ID(), record.APIKeyUIDLabel: string(key.UID)},
			Annotations: map[string]string{record.APIKeyAnnotation: ns + "/legacy"}},
		Type: RecordSecretType,
		Data: map[string][]byte{record.DataKey: legacy},
	})).To(Succeed())
	patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.Suspended = false })

	waitFor(g, key, keywardv1.KeyReadyReason)
	g.Eventually(func(g Gomega) {
		rec := recordFor(g, k.ID())
		g.Expect(rec.State).To(Equal(record.Active))
		g.Expect(rec.APIKey.UID).To(Equal(string(key.UID)))
		g.Expect(rec.Ledger).NotTo(BeNil())
		g.Expect(rec.Ledger.Current).To(Equal("a1b2c3d4e5f60718"))
		g.Expect(rec.Secrets).To(HaveLen(1))
		g.Expect(rec.Secrets[0].Hash).To(Equal(phc), "verified, not hashed again")
		g.Expect(rec.Secrets[0].Fingerprint).NotTo(BeEmpty())
		sec := deliverySecret(g, key)
		g.Expect(sec.Annotations).NotTo(HaveKey("keyward.dev/handled-trigger"))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(deliveredPlaintext(g, key).Equal(k)).To(BeTrue(), "the consumer's key is the same")
	g.Expect(eventsFor(g, key)).NotTo(HaveKey(keywardv1.SecretReissuedReason))
}

// TestAKeyIDBoundToAnotherAPIKeyIsNeverTouched: should status ever name a
// key ID whose record another APIKey holds (only the manager writes status,
// so this is damage, say a restore gone wrong), the manager touches neither
// record: not rewritten, not tombstoned when the APIKey goes.
func TestAKeyIDBoundToAnotherAPIKeyIsNeverTouched(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	victim := createReady(g, newAPIKey(ns, "victim"))
	before := recordSecret(g, victim.Status.KeyID)
	other := createReady(g, newAPIKey(ns, "other"))

	other.Status.KeyID = victim.Status.KeyID
	g.Expect(k8s.Status().Update(ctx, other)).To(Succeed())
	got := waitFor(g, other, keywardv1.KeyIDConflictReason)
	g.Expect(got.Status.KeyID).To(Equal(victim.Status.KeyID))
	g.Expect(k8s.Delete(ctx, other)).To(Succeed())
	g.Eventually(gone(other)).WithTimeout(timeout).Should(BeTrue())

	after := recordSecret(g, victim.Status.KeyID)
	g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "the victim's record was never written")
	g.Expect(recordFor(g, victim.Status.KeyID).State).To(Equal(record.Active))
}
