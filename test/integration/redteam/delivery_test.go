package redteam

import (
	"context"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// The delivery Secret is the consumer's copy of the key, in the tenant's
// namespace: output only. These attacks write into it and expect the
// manager to act on nothing they wrote.

// TestAttackTombstoneAnotherTenantsRecord: the follow-on of the key-ID
// takeover. Deleting an APIKey tombstones its record; an APIKey that got
// bound to someone else's key ID would revoke that key by being deleted.
func TestAttackTombstoneAnotherTenantsRecord(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	mallory := newTenant(t, g, "mallory")
	victimID, victimKey := victimsKey(t, g)
	thief, _ := plantThief(g, mallory, victimID)
	mallory.waitReady(g, "thief")
	g.Expect(mallory.c.Delete(ctx, thief)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(mallory.c.Get(ctx, client.ObjectKeyFromObject(thief), &keywardv1.APIKey{}))
	}).WithTimeout(waitFor).Should(BeTrue())

	g.Consistently(func(g Gomega) {
		status, _ := decide(g, victimKey)
		g.Expect(status).To(Equal(http.StatusOK), "the victim's key survives the thief's deletion")
	}).WithTimeout(3 * time.Second).Should(Succeed())
	g.Expect(recordOf(g, victimID).State).To(Equal(record.Active))
}

// forgedDelivery is a Secret dressed as keyward's delivery Secret of key,
// holding a fresh secret around keyID.
func forgedDelivery(g Gomega, key *keywardv1.APIKey, name, keyID string) *corev1.Secret {
	forged, err := keys.Generate(keyID)
	g.Expect(err).NotTo(HaveOccurred())
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace, Name: name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "keyward"},
			Annotations: map[string]string{
				"keyward.dev/serial":    "0123456789abcdef",
				"keyward.dev/issued-at": time.Now().UTC().Format(time.RFC3339),
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: keywardv1.GroupVersion.String(), Kind: "APIKey", Name: key.Name, UID: key.UID, Controller: ptr.To(true),
			}},
		},
		Type: "keyward.dev/api-key",
		Data: map[string][]byte{"key": []byte(forged.Plaintext()), "keyID": []byte(keyID)},
	}
}

// TestAttackChosenSecretIsNeverHashed: a tenant writes a secret of its own
// choosing (a weak one, say) into its delivery Secret, with a new serial so
// that the published hash no longer matches. The manager must never hash
// and publish it: only secrets it generated from its CSPRNG ever verify.
func TestAttackChosenSecretIsNeverHashed(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	mallory := newTenant(t, g, "mallory")
	mk := mallory.createKey(t, g, "own", keywardv1.APIKeySpec{Owner: "mallory", Scopes: readScope})
	expectPermitted(g, mallory.delivered(g, "own"), mk.Status.KeyID)

	chosen, err := keys.Generate(mk.Status.KeyID)
	g.Expect(err).NotTo(HaveOccurred())
	sec := &corev1.Secret{}
	g.Expect(mallory.c.Get(ctx, client.ObjectKey{Namespace: mallory.ns, Name: "own"}, sec)).To(Succeed())
	sec.Data["key"] = []byte(chosen.Plaintext())
	sec.Annotations["keyward.dev/serial"] = "00000000c0ffee00"
	g.Expect(mallory.c.Update(ctx, sec)).To(Succeed())

	g.Consistently(func(g Gomega) {
		status, _ := decide(g, chosen.Plaintext())
		g.Expect(status).NotTo(Equal(http.StatusOK), "a secret the manager did not generate never verifies")
	}).WithTimeout(5 * time.Second).Should(Succeed())
	// The consumer gets a working key again: the manager reissues.
	g.Eventually(func(g Gomega) {
		got := mallory.delivered(g, "own")
		g.Expect(got).NotTo(Equal(chosen.Plaintext()))
		status, _ := decide(g, got)
		g.Expect(status).To(Equal(http.StatusOK))
	}).WithTimeout(waitFor).Should(Succeed())
}

// TestAttackExtendedGrace: during a rotation's grace period a tenant moves
// the previous secret's end of validity, which the delivery Secret shows
// as an annotation, far into the future. The previous secret must still
// stop verifying when its real grace period ends.
func TestAttackExtendedGrace(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	mallory := newTenant(t, g, "mallory")
	mallory.createKey(t, g, "rotating", keywardv1.APIKeySpec{
		Owner: "mallory", Scopes: readScope, Rotation: &keywardv1.Rotation{GracePeriodSeconds: ptr.To[int64](4)},
	})
	old := mallory.delivered(g, "rotating")
	g.Expect(mallory.c.Patch(ctx, &keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: mallory.ns, Name: "rotating"}},
		client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"rotation":{"trigger":"now"}}}`)))).To(Succeed())
	g.Eventually(func(g Gomega) {
		sec := &corev1.Secret{}
		g.Expect(mallory.c.Get(ctx, client.ObjectKey{Namespace: mallory.ns, Name: "rotating"}, sec)).To(Succeed())
		g.Expect(string(sec.Data["previousKey"])).To(Equal(old))
		sec.Annotations["keyward.dev/previous-valid-until"] = "2099-01-01T00:00:00Z"
		g.Expect(mallory.c.Update(ctx, sec)).To(Succeed())
	}).WithTimeout(waitFor).Should(Succeed())

	g.Eventually(func(g Gomega) {
		status, _ := decide(g, old)
		g.Expect(status).NotTo(Equal(http.StatusOK), "the previous secret stops verifying when its grace ends")
	}).WithTimeout(waitFor).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(mallory.getKey(g, "rotating").Status.PreviousSecretValidUntil).To(BeNil())
	}).WithTimeout(waitFor).Should(Succeed())
}

// TestAttackTamperingDoesNotHashInALoop: a tenant deletes its delivery
// Secret over and over. Each loss of the key is answered by a new key, but
// PBKDF2 runs on the manager's shared hashing slots, so the manager backs
// off instead of hashing at the tenant's pace.
func TestAttackTamperingDoesNotHashInALoop(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	mallory := newTenant(t, g, "mallory")
	mallory.createKey(t, g, "churn", keywardv1.APIKeySpec{Owner: "mallory", Scopes: readScope})
	before := pbkdf2Runs(g)
	deadline := time.Now().Add(8 * time.Second)
	deletions := 0
	for time.Now().Before(deadline) {
		err := mallory.c.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: mallory.ns, Name: "churn"}})
		if err == nil {
			deletions++
		}
		g.Eventually(func() bool { // until the manager answered, or gave up for now
			return deliveredOrBackingOff(ctx, mallory, "churn")
		}).WithTimeout(waitFor).Should(BeTrue())
	}
	runs := pbkdf2Runs(g) - before
	t.Logf("%d deletions of the delivery Secret in 8s caused %v PBKDF2 hashes", deletions, runs)
	g.Expect(deletions).To(BeNumerically(">=", 3))
	g.Expect(runs).To(BeNumerically("<=", 4), "the manager backs off after repeated reissues")
}

// deliveredOrBackingOff reports whether the delivery Secret is back, or the
// APIKey says the manager is holding back.
func deliveredOrBackingOff(ctx context.Context, tn tenant, name string) bool {
	if err := tn.c.Get(ctx, client.ObjectKey{Namespace: tn.ns, Name: name}, &corev1.Secret{}); err == nil {
		return true
	}
	key := &keywardv1.APIKey{}
	if err := tn.c.Get(ctx, client.ObjectKey{Namespace: tn.ns, Name: name}, key); err != nil {
		return false
	}
	for _, c := range key.Status.Conditions {
		if c.Type == keywardv1.DeliveredCondition && c.Reason == "ReissueBackoff" {
			return true
		}
	}
	return false
}

// pbkdf2Runs reads the manager's count of PBKDF2 hashes.
func pbkdf2Runs(g Gomega) float64 {
	families, err := metrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() == "keyward_pbkdf2_hashes_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// TestAttackForgedDeliveryFieldsAreRepairedWithoutHashing: a tenant points
// its delivery Secret's keyID at another tenant's key and adds keyward's
// annotations of its own. The manager writes its fields back, says so in a
// Warning Event, and runs no PBKDF2 for it.
func TestAttackForgedDeliveryFieldsAreRepairedWithoutHashing(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	victim, mallory := newTenant(t, g, "victim"), newTenant(t, g, "mallory")
	vk := victim.createKey(t, g, "payments", keywardv1.APIKeySpec{Owner: "victim", Scopes: readScope})
	mk := mallory.createKey(t, g, "own", keywardv1.APIKeySpec{Owner: "mallory", Scopes: readScope})
	key := mallory.delivered(g, "own")
	before := pbkdf2Runs(g)

	sec := &corev1.Secret{}
	g.Expect(mallory.c.Get(ctx, client.ObjectKey{Namespace: mallory.ns, Name: "own"}, sec)).To(Succeed())
	sec.Data["keyID"] = []byte(vk.Status.KeyID)
	sec.Annotations["keyward.dev/next-serial"] = "0123456789abcdef"
	g.Expect(mallory.c.Update(ctx, sec)).To(Succeed())

	g.Eventually(func(g Gomega) {
		got := &corev1.Secret{}
		g.Expect(mallory.c.Get(ctx, client.ObjectKey{Namespace: mallory.ns, Name: "own"}, got)).To(Succeed())
		g.Expect(string(got.Data["keyID"])).To(Equal(mk.Status.KeyID))
		g.Expect(got.Annotations).NotTo(HaveKey("keyward.dev/next-serial"))
		g.Expect(string(got.Data["key"])).To(Equal(key), "the consumer's key is untouched")
	}).WithTimeout(waitFor).Should(Succeed())
	g.Eventually(func(g Gomega) {
		events := &eventsv1.EventList{}
		g.Expect(mallory.c.List(ctx, events, client.InNamespace(mallory.ns))).To(Succeed())
		var reasons []string
		for _, e := range events.Items {
			reasons = append(reasons, e.Reason)
		}
		g.Expect(reasons).To(ContainElement("DeliveryRepaired"))
	}).WithTimeout(waitFor).Should(Succeed())
	g.Expect(pbkdf2Runs(g)).To(Equal(before), "no PBKDF2 for a repair")
	expectPermitted(g, key, mk.Status.KeyID)
}
