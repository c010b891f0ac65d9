package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

func TestAPIKeyBecomesReadyWithAVerifyingRecord(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "reporting"))

	g.Expect(key.Status.KeyID).To(HaveLen(keys.IDLength))
	g.Expect(key.Status.Prefix).To(Equal("15a6/" + key.Status.KeyID))
	g.Expect(key.Status.SecretName).To(Equal("reporting"))
	g.Expect(key.Status.IssuedTime).NotTo(BeNil())
	g.Expect(key.Status.ExpirationTime.Time).To(BeTemporally("~", key.CreationTimestamp.Add(90*24*time.Hour), time.Second))
	for _, c := range []string{keywardv1.DeliveredCondition, keywardv1.PublishedCondition} {
		g.Expect(meta.IsStatusConditionTrue(key.Status.Conditions, c)).To(BeTrue(), c)
	}
	g.Expect(meta.IsStatusConditionFalse(key.Status.Conditions, keywardv1.RevokedCondition)).To(BeTrue())

	sec := deliverySecret(g, key)
	g.Expect(sec.Type).To(Equal(DeliverySecretType))
	g.Expect(metav1.IsControlledBy(sec, key)).To(BeTrue())
	g.Expect(string(sec.Data[DeliveryKeyIDField])).To(Equal(key.Status.KeyID))
	delivered := deliveredPlaintext(g, key)
	g.Expect(delivered.ID()).To(Equal(key.Status.KeyID))

	recSecret := recordSecret(g, key.Status.KeyID)
	g.Expect(recSecret.Labels).To(HaveKeyWithValue(record.RecordLabel, "true"))
	g.Expect(recSecret.Labels).To(HaveKeyWithValue(record.APIKeyUIDLabel, string(key.UID)))
	g.Expect(string(recSecret.Data[record.DataKey])).NotTo(ContainSubstring(delivered.Plaintext()))

	rec := recordFor(g, key.Status.KeyID)
	g.Expect(rec.Owner).To(Equal("15a6"))
	g.Expect(rec.State).To(Equal(record.Active))
	g.Expect(rec.Scopes).To(Equal([]string{"acme/payments/investigations:read", "acme/payments/evidence:write"}))
	g.Expect(rec.Conditions.SourceCIDRs).To(Equal([]string{"10.0.0.0/8"}))
	g.Expect(rec.AuthMethods).To(BeEmpty(), "no authMethods: the key itself, as the record's default")
	g.Expect(*rec.ExpiresAt).To(BeTemporally("==", key.Status.ExpirationTime.Time))
	g.Expect(rec.Secrets).To(HaveLen(1))
	g.Expect(rec.Secrets[0].Serial).To(Equal(sec.Annotations[SerialAnnotation]))

	g.Expect(keys.Verify(delivered, rec.Secrets[0].Hash)).To(BeTrue(), "the record verifies the delivered key")
	other, err := keys.Generate(delivered.ID())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(keys.Verify(other, rec.Secrets[0].Hash)).To(BeFalse(), "and no other key with the same ID")

	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, key)).To(HaveKeyWithValue(keywardv1.CreatedReason,
			ConsistOf(ContainSubstring("Issued key 15a6/"+key.Status.KeyID))))
	}).WithTimeout(timeout).Should(Succeed())
}

func TestReconcilingAnUnchangedKeyWritesNothing(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "steady"))
	recName := record.SecretName(key.Status.KeyID)
	// Let the cache see everything the first reconciles wrote.
	g.Eventually(func(g Gomega) {
		cached := &keywardv1.APIKey{}
		g.Expect(mgrCache.Get(context.Background(), client.ObjectKeyFromObject(key), cached)).To(Succeed())
		g.Expect(cached.Status.ObservedGeneration).To(Equal(cached.Generation))
		g.Expect(meta.IsStatusConditionTrue(cached.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue())
		rec := &corev1.Secret{}
		g.Expect(mgrCache.Get(context.Background(), client.ObjectKey{Namespace: verifierNamespace, Name: recName}, rec)).To(Succeed())
		cachedRecord, err := record.Decode(rec.Data[record.DataKey])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cachedRecord.State).To(Equal(record.Active), "the cache saw the record's last write")
	}).WithTimeout(timeout).Should(Succeed())

	mark := writes.mark()
	for range 5 {
		res, err := reconciler.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(key)})
		g.Expect(err).NotTo(HaveOccurred())
		// The only reason to come back is the expiry, 90 days out.
		g.Expect(res.RequeueAfter).To(BeNumerically(">", 89*24*time.Hour))
	}
	g.Expect(writes.since(mark, ns+"/", recName)).To(BeEmpty(), "a reconcile of an unchanged APIKey writes nothing")

	after := deliveredPlaintext(g, key)
	g.Expect(after.Equal(deliveredPlaintext(g, key))).To(BeTrue())
	// Version 1 bound the key ID while issuing; version 2 published it.
	g.Expect(recordFor(g, key.Status.KeyID).Version).To(Equal(int64(2)))
}

func TestScopeChangeUpdatesTheRecordAndKeepsTheSecret(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "scoped"))
	before := deliveredPlaintext(g, key)
	beforeRec := recordFor(g, key.Status.KeyID)

	patch := client.MergeFrom(key.DeepCopy())
	key.Spec.Scopes = []keywardv1.Scope{"acme/*/users:admin"}
	g.Expect(k8s.Patch(context.Background(), key, patch)).To(Succeed())

	g.Eventually(func(g Gomega) {
		rec := recordFor(g, key.Status.KeyID)
		g.Expect(rec.Scopes).To(Equal([]string{"acme/*/users:admin"}))
		g.Expect(rec.Version).To(Equal(beforeRec.Version + 1))
		g.Expect(rec.Secrets).To(Equal(beforeRec.Secrets), "the same hash: no new secret")
	}).WithTimeout(timeout).Should(Succeed())
	g.Expect(deliveredPlaintext(g, key).Equal(before)).To(BeTrue(), "the delivered key is unchanged")
	waitFor(g, key, keywardv1.KeyReadyReason)
	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, key)).To(HaveKey(keywardv1.UpdatedReason))
	}).WithTimeout(timeout).Should(Succeed())
	g.Expect(eventsFor(g, key)[keywardv1.CreatedReason]).To(HaveLen(1))
}

func TestDeletingTheAPIKeyRemovesSecretAndRecord(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "short-lived"))
	sec := deliverySecret(g, key)
	rec := recordSecret(g, key.Status.KeyID)

	g.Expect(k8s.Delete(context.Background(), key)).To(Succeed())
	// envtest runs no garbage collector: the controller itself removes the
	// Secret, and the record turns into a tombstone at once.
	g.Eventually(gone(sec)).WithTimeout(timeout).Should(BeTrue(), "delivery Secret removed")
	g.Eventually(gone(key)).WithTimeout(timeout).Should(BeTrue(), "finalizer released")
	tomb := recordFor(g, key.Status.KeyID)
	g.Expect(tomb.State).To(Equal(record.Revoked))
	g.Expect(tomb.Secrets).To(BeEmpty())
	// Then the tombstone goes when its retention is over.
	advance(g, testRetention)
	sweepTombstone(key.Status.KeyID)
	g.Eventually(gone(rec)).WithTimeout(timeout).Should(BeTrue(), "tombstone removed after retention")
	g.Expect(apiKeyClock.Now()).To(BeTemporally(">=", tomb.RevokedAt.Add(testRetention)))
}

func TestDeletedDeliverySecretIssuesANewSecret(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "lost"))
	old := deliveredPlaintext(g, key)
	g.Expect(k8s.Delete(context.Background(), deliverySecret(g, key))).To(Succeed())

	var fresh keys.Key
	g.Eventually(func(g Gomega) {
		fresh = deliveredPlaintext(g, key)
		g.Expect(fresh.Equal(old)).To(BeFalse())
		rec := recordFor(g, key.Status.KeyID)
		g.Expect(rec.Secrets).To(HaveLen(1))
		g.Expect(keys.Verify(fresh, rec.Secrets[0].Hash)).To(BeTrue())
	}).WithTimeout(timeout).Should(Succeed())
	g.Expect(fresh.ID()).To(Equal(old.ID()), "the key ID survives")
	rec := recordFor(g, key.Status.KeyID)
	g.Expect(keys.Verify(old, rec.Secrets[0].Hash)).To(BeFalse(), "the lost secret no longer verifies")
	waitFor(g, key, keywardv1.KeyReadyReason)
	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, key)).To(HaveKeyWithValue(keywardv1.SecretReissuedReason,
			ConsistOf(ContainSubstring("previous secret no longer verifies"))))
	}).WithTimeout(timeout).Should(Succeed())
}

// TestALostRecordIsReissuedUnderTheSameKeyID: the record is the key's only
// source of truth. Deleted by hand, it takes the key's hash with it, and
// the plaintext in the delivery Secret (which the key's namespace can
// edit) is never hashed and published: the key gets a new secret under the
// key ID status keeps, bound to the same APIKey again.
func TestALostRecordIsReissuedUnderTheSameKeyID(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "crashed"))
	delivered := deliveredPlaintext(g, key)
	g.Expect(k8s.Delete(context.Background(), recordSecret(g, key.Status.KeyID))).To(Succeed())

	var fresh keys.Key
	g.Eventually(func(g Gomega) {
		rec := recordFor(g, key.Status.KeyID)
		g.Expect(rec.State).To(Equal(record.Active))
		g.Expect(rec.APIKey.UID).To(Equal(string(key.UID)))
		fresh = deliveredPlaintext(g, key)
		g.Expect(keys.Verify(fresh, rec.Secrets[0].Hash)).To(BeTrue())
		g.Expect(keys.Verify(delivered, rec.Secrets[0].Hash)).To(BeFalse(), "the plaintext read back is never published")
	}).WithTimeout(timeout).Should(Succeed())
	g.Expect(fresh.ID()).To(Equal(delivered.ID()), "the key ID survives")
	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, key)).To(HaveKey(keywardv1.SecretReissuedReason))
	}).WithTimeout(timeout).Should(Succeed())
}

func TestAForeignSecretIsNeverOverwritten(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	foreign := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken"},
		StringData: map[string]string{"password": "hunter2"},
	}
	g.Expect(k8s.Create(context.Background(), foreign)).To(Succeed())
	key := newAPIKey(ns, "taken")
	g.Expect(k8s.Create(context.Background(), key)).To(Succeed())

	got := waitFor(g, key, keywardv1.SecretConflictReason)
	g.Expect(meta.FindStatusCondition(got.Status.Conditions, keywardv1.ReadyCondition).Message).
		To(ContainSubstring(`Secret "taken" already exists and does not belong to this APIKey`))
	after := &corev1.Secret{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(foreign), after)).To(Succeed())
	g.Expect(after.Data).To(Equal(map[string][]byte{"password": []byte("hunter2")}))
	g.Expect(after.OwnerReferences).To(BeEmpty())
}

func TestRevocationPublishesATombstone(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "leaked"))

	patch := client.MergeFrom(key.DeepCopy())
	key.Spec.Revoked = true
	g.Expect(k8s.Patch(context.Background(), key, patch)).To(Succeed())

	got := waitFor(g, key, keywardv1.RevokedReason)
	g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, keywardv1.RevokedCondition)).To(BeTrue())
	rec := recordFor(g, key.Status.KeyID)
	g.Expect(rec.State).To(Equal(record.Revoked))
	g.Expect(rec.Secrets).To(BeEmpty(), "a tombstone keeps no hash")
	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, key)).To(HaveKey(keywardv1.RevokedReason))
	}).WithTimeout(timeout).Should(Succeed())
}

func TestAnExpiredKeyIsPublishedAsExpired(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	past := metav1.NewTime(apiKeyClock.Now().Add(-time.Hour).Truncate(time.Second))
	key := newAPIKey(ns, "old", func(k *keywardv1.APIKey) {
		k.Spec.Expiration = &keywardv1.Expiration{At: &past}
	})
	g.Expect(k8s.Create(context.Background(), key)).To(Succeed())
	got := waitFor(g, key, keywardv1.ExpiredReason)
	g.Expect(got.Status.ExpirationTime.Time).To(BeTemporally("==", past.Time))
	g.Expect(got.Status.KeyID).To(BeEmpty(), "no secret is issued for a key that is already expired")
}

func TestExpiryIsWarnedAndEnforcedAtItsInstant(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	soon := metav1.NewTime(apiKeyClock.Now().Add(5 * time.Second).Truncate(time.Second))
	// The sink refuses the first attempts, more than one Send retries: the
	// warning still arrives, through the reconciler's own retry.
	sink.SetFailNext(5)
	key := createReady(g, newAPIKey(ns, "soon", func(k *keywardv1.APIKey) {
		k.Spec.Expiration = &keywardv1.Expiration{At: &soon}
	}))

	// A reconcile asks to come back when the warning window opens (or, once
	// it is open, at the expiry itself): never later. The manager reconciles
	// the same key meanwhile, so this call may lose the optimistic lock on
	// the status and must then be repeated, as the workqueue would.
	var res reconcile.Result
	g.Eventually(func() error {
		var err error
		res, err = reconciler.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(key)})
		return err
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(res.RequeueAfter).To(BeNumerically(">", 0))
	g.Expect(res.RequeueAfter).To(BeNumerically("<=", soon.Sub(apiKeyClock.Now())+time.Second))

	advance(g, soon.Sub(apiKeyClock.Now())-testWarnBefore, key)
	warned := &keywardv1.APIKey{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), warned)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(warned.Status.Conditions, keywardv1.ExpiringCondition)).To(BeTrue())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(meta.FindStatusCondition(warned.Status.Conditions, keywardv1.ExpiringCondition).Reason).To(Equal(keywardv1.ExpiresSoonReason))

	advance(g, soon.Sub(apiKeyClock.Now()), key)
	expired := waitFor(g, key, keywardv1.ExpiredReason)
	g.Expect(apiKeyClock.Now()).To(BeTemporally(">=", soon.Time))
	g.Expect(expired.Status.ExpirationTime.Time).To(BeTemporally("==", soon.Time))
	rec := recordFor(g, key.Status.KeyID)
	g.Expect(rec.State).To(Equal(record.Expired))
	g.Expect(rec.Secrets).To(BeEmpty())
	g.Eventually(func(g Gomega) {
		ev := eventsFor(g, key)
		g.Expect(ev).To(HaveKey(keywardv1.ExpiresSoonReason))
		g.Expect(ev).To(HaveKey(keywardv1.ExpiredReason))
		g.Expect(sink.About(expired.Status.Prefix)).To(ConsistOf(HaveKeyWithValue("type", "dev.keyward.apikey.expiry.due")))
	}).WithTimeout(timeout).Should(Succeed())
	g.Expect(sink.FailNext()).To(BeZero(), "the sink did refuse the first attempts")
}

func TestRecordCarriesAuthMethods(t *testing.T) {
	g := NewWithT(t)
	k := newAPIKey(newNamespace(t), "tokens")
	k.Spec.AuthMethods = []keywardv1.AuthMethod{keywardv1.AuthMethodClientCredentials}
	key := createReady(g, k)
	rec := recordFor(g, key.Status.KeyID)
	g.Expect(rec.AuthMethods).To(Equal([]string{"ClientCredentials"}))
	g.Expect(rec.Allows(record.AuthAPIKey)).To(BeFalse())
}
