package redteam

import (
	"context"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// TestAttackKeyIDTakeover: a tenant crafts the delivery Secret of its own
// suspended APIKey around another tenant's key ID (public: status.prefix,
// X-Keyward-Key-Id, audit lines), with keyward's label, annotations and a
// controller ownerReference, then resumes the key. The manager must never
// adopt a key it did not generate: the victim's record stays the victim's,
// the thief's plaintext is never permitted, and the thief's APIKey gets a
// key ID of its own.
func TestAttackKeyIDTakeover(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	mallory := newTenant(t, g, "mallory")
	victimID, victimKey := victimsKey(t, g)
	recordBefore := recordOf(g, victimID)

	_, forged := plantThief(g, mallory, victimID)
	got := mallory.waitReady(g, "thief")
	g.Expect(got.Status.KeyID).NotTo(Equal(victimID), "the thief's APIKey must never be bound to the victim's key ID")
	g.Consistently(func(g Gomega) {
		status, _ := decide(g, forged.Plaintext())
		g.Expect(status).NotTo(Equal(http.StatusOK), "the forged key must never be permitted")
	}).WithTimeout(3 * time.Second).Should(Succeed())
	expectPermitted(g, victimKey, victimID)
	after := recordOf(g, victimID)
	g.Expect(after.Secrets).To(Equal(recordBefore.Secrets), "the victim's hashes are untouched")
	g.Expect(after.Owner).To(Equal("victim"))
	// Writing over a Secret keyward did not write is announced.
	g.Eventually(func(g Gomega) {
		events := &eventsv1.EventList{}
		g.Expect(mallory.c.List(ctx, events, client.InNamespace(mallory.ns))).To(Succeed())
		var reasons []string
		for _, e := range events.Items {
			if e.Regarding.Name == "thief" && e.Type == "Warning" {
				reasons = append(reasons, e.Reason)
			}
		}
		g.Expect(reasons).To(ContainElement(keywardv1.DeliveryRepairedReason))
	}).WithTimeout(waitFor).Should(Succeed())
	// The thief's own key works, under its own ID.
	expectPermitted(g, mallory.delivered(g, "thief"), got.Status.KeyID)
	g.Expect(mallory.delivered(g, "thief")).NotTo(Equal(forged.Plaintext()))
}

// TestAttackReviveRevokedChild: a child key is revoked when its parent is
// deleted; creating a new APIKey under the parent's name must not bring the
// child back.
func TestAttackReviveRevokedChild(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	mallory := newTenant(t, g, "mallory")
	spec := keywardv1.APIKeySpec{Owner: "mallory", Scopes: readScope}
	mallory.createKey(t, g, "p", spec)
	child := spec
	child.Parent = &keywardv1.ParentReference{Name: "p"}
	ck := mallory.createKey(t, g, "c", child)
	childKey := mallory.delivered(g, "c")
	expectPermitted(g, childKey, ck.Status.KeyID)

	g.Expect(mallory.c.Delete(ctx, &keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: mallory.ns, Name: "p"}})).To(Succeed())
	expectDenied(g, childKey, "revoked")
	g.Eventually(func(g Gomega) {
		err := mallory.c.Get(ctx, client.ObjectKey{Namespace: mallory.ns, Name: "p"}, &keywardv1.APIKey{})
		g.Expect(err).To(HaveOccurred())
	}).WithTimeout(waitFor).Should(Succeed())

	mallory.createKey(t, g, "p", spec)
	g.Consistently(func(g Gomega) {
		g.Expect(reason(g, childKey)).To(Equal("revoked"))
	}).WithTimeout(5*time.Second).Should(Succeed(), "a new parent of the same name revives nothing")
	g.Expect(recordOf(g, ck.Status.KeyID).State).To(Equal(record.Revoked))
	c := mallory.getKey(g, "c")
	g.Expect(c.Status.RevokedTime).NotTo(BeNil())
}

// victimsKey is another team's key: its ID (public) and its plaintext
// (which only the victim reads), permitted.
func victimsKey(t *testing.T, g *WithT) (string, string) {
	t.Helper()
	victim := newTenant(t, g, "victim")
	vk := victim.createKey(t, g, "payments", keywardv1.APIKeySpec{Owner: "victim", Scopes: readScope})
	plaintext := victim.delivered(g, "payments")
	expectPermitted(g, plaintext, vk.Status.KeyID)
	return vk.Status.KeyID, plaintext
}

// plantThief plays the takeover: a suspended APIKey, a delivery Secret
// crafted around keyID for it, and the key resumed. It returns the thief's
// APIKey and the forged key.
func plantThief(g *WithT, mallory tenant, keyID string) (*keywardv1.APIKey, keys.Key) {
	ctx := context.Background()
	thief := &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: mallory.ns, Name: "thief"},
		Spec:       keywardv1.APIKeySpec{Owner: "mallory", Scopes: readScope, Suspended: true},
	}
	g.Expect(mallory.c.Create(ctx, thief)).To(Succeed())
	crafted := forgedDelivery(g, thief, "thief", keyID)
	forged, err := keys.Parse(string(crafted.Data["key"]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(mallory.c.Create(ctx, crafted)).To(Succeed())
	g.Expect(mallory.c.Patch(ctx, thief, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"suspended":false}}`)))).To(Succeed())
	return thief, forged
}
