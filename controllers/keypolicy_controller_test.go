package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/event"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/policy"
)

func TestViolatedPoliciesNameEachRefusingPolicyOnce(t *testing.T) {
	g := NewWithT(t)
	g.Expect(violatedPolicies(nil)).To(BeNil())
	g.Expect(violatedPolicies([]policy.Violation{
		{Field: "spec.scopes[0]", Policy: "strict"},
		{Field: "spec.parent", Message: "the parent key refuses"},
		{Field: "spec.expiration", Policy: "lifetime"},
		{Field: "spec.scopes[1]", Policy: "strict"},
	})).To(Equal([]string{"lifetime", "strict"}))
}

// The policies' counts move only with keys created, deleted, or flagged by
// other policies than before; a key's other status updates (rotation,
// delivery, quota) must not recount every policy.
func TestKeyPolicyCountsFollowOnlyViolationChanges(t *testing.T) {
	g := NewWithT(t)
	key := func(violated ...string) *keywardv1.APIKey {
		k := &keywardv1.APIKey{}
		k.Status.ViolatedPolicies = violated
		return k
	}
	p := violationsChanged{}
	g.Expect(p.Create(event.CreateEvent{Object: key()})).To(BeTrue())
	g.Expect(p.Delete(event.DeleteEvent{Object: key("strict")})).To(BeTrue())

	quotaUpdate := key("strict")
	quotaUpdate.Status.SecretGeneration = 2
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: key("strict"), ObjectNew: quotaUpdate})).To(BeFalse())
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: key(), ObjectNew: key("strict")})).To(BeTrue())
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: key("strict"), ObjectNew: key()})).To(BeTrue())
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: key("lifetime"), ObjectNew: key("strict")})).To(BeTrue())
}
