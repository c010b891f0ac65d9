package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/record"
)

func delegated(ns, name, parent string, days int32, scopes ...keywardv1.Scope) *keywardv1.APIKey {
	return newAPIKey(ns, name, func(k *keywardv1.APIKey) {
		k.Spec.Parent = &keywardv1.ParentReference{Name: parent}
		k.Spec.Scopes = scopes
		k.Spec.Conditions = &keywardv1.AccessConditions{SourceCIDRs: []keywardv1.CIDR{"10.1.0.0/16"}}
		k.Spec.Expiration = &keywardv1.Expiration{AfterDays: ptr.To(days)}
	})
}

func TestAParentsRevocationReachesEveryDescendant(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	parent := createReady(g, newAPIKey(ns, "org", func(k *keywardv1.APIKey) {
		k.Spec.Scopes = []keywardv1.Scope{"acme/*/investigations:admin"}
	}))
	child := createReady(g, delegated(ns, "project", "org", 30, "acme/payments/investigations:admin"))
	grandchild := createReady(g, delegated(ns, "reader", "project", 29, "acme/payments/investigations:read"))

	// Suspending the parent suspends the whole line; resuming restores it.
	patchKey(g, parent, func(k *keywardv1.APIKey) { k.Spec.Suspended = true })
	for _, k := range []*keywardv1.APIKey{child, grandchild} {
		waitFor(g, k, keywardv1.ParentSuspendedReason)
		g.Expect(recordFor(g, k.Status.KeyID).State).To(Equal(record.Suspended))
	}
	patchKey(g, parent, func(k *keywardv1.APIKey) { k.Spec.Suspended = false })
	for _, k := range []*keywardv1.APIKey{child, grandchild} {
		waitFor(g, k, keywardv1.KeyReadyReason)
		g.Expect(recordFor(g, k.Status.KeyID).State).To(Equal(record.Active))
	}

	patchKey(g, parent, func(k *keywardv1.APIKey) { k.Spec.Revoked = true })
	waitFor(g, parent, keywardv1.RevokedReason)
	for _, k := range []*keywardv1.APIKey{child, grandchild} {
		got := waitFor(g, k, keywardv1.ParentRevokedReason)
		g.Expect(got.Spec.Revoked).To(BeFalse(), "the controller never writes spec")
		rec := recordFor(g, k.Status.KeyID)
		g.Expect(rec.State).To(Equal(record.Revoked))
		g.Expect(rec.Secrets).To(BeEmpty())
	}
	g.Expect(meta.FindStatusCondition(waitFor(g, grandchild, keywardv1.ParentRevokedReason).Status.Conditions, keywardv1.ReadyCondition).Message).
		To(Equal(`Parent key "org" is revoked, so this delegated key is revoked.`))
}

func TestAKeyPolicyChangeReportsOrSuspendsExistingKeys(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	team := fmt.Sprintf("team-%d", rand.Uint32())
	labelNamespace(t, ns, map[string]string{"team": team})

	key := createReady(g, newAPIKey(ns, "writer", func(k *keywardv1.APIKey) {
		k.Spec.Scopes = []keywardv1.Scope{"acme/payments/evidence:write"}
		k.Spec.Conditions = nil
	}))

	p := &keywardv1.KeyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: team},
		Spec: keywardv1.KeyPolicySpec{
			NamespaceSelector:      metav1.LabelSelector{MatchLabels: map[string]string{"team": team}},
			SourceCIDRsRequiredFor: []keywardv1.Action{"write", "delete", "admin"},
			Enforcement:            keywardv1.EnforcementReport,
		},
	}
	g.Expect(k8s.Create(ctx, p)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })

	// Report mode: flagged, still working.
	want := fmt.Sprintf(`spec.scopes[0]: scope "acme/payments/evidence:write" grants write, which KeyPolicy %q allows only with spec.conditions.sourceCIDRs.`, team)
	g.Eventually(func(g Gomega) {
		got := &keywardv1.APIKey{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(key), got)).To(Succeed())
		c := meta.FindStatusCondition(got.Status.Conditions, keywardv1.PolicyViolationCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Message).To(Equal(want))
		g.Expect(got.Status.ViolatedPolicies).To(Equal([]string{team}))
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(recordFor(g, key.Status.KeyID).State).To(Equal(record.Active), "report mode changes nothing")
	g.Eventually(func(g Gomega) {
		got := &keywardv1.KeyPolicy{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
		g.Expect(got.Status.SelectedKeys).To(Equal(int32(1)))
		g.Expect(got.Status.ViolatingKeys).To(Equal(int32(1)))
		g.Expect(eventsFor(g, key)).To(HaveKey(keywardv1.PolicyViolatedReason))
	}).WithTimeout(timeout).Should(Succeed())

	// Suspend mode: the key is suspended until it complies.
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
	p.Spec.Enforcement = keywardv1.EnforcementSuspend
	g.Expect(k8s.Update(ctx, p)).To(Succeed())
	waitFor(g, key, keywardv1.PolicyViolatedReason)
	g.Expect(recordFor(g, key.Status.KeyID).State).To(Equal(record.Suspended))

	// Complying (an allowlist) brings it back.
	patchKey(g, key, func(k *keywardv1.APIKey) {
		k.Spec.Conditions = &keywardv1.AccessConditions{SourceCIDRs: []keywardv1.CIDR{"10.0.0.0/8"}}
	})
	got := waitFor(g, key, keywardv1.KeyReadyReason)
	g.Expect(meta.IsStatusConditionFalse(got.Status.Conditions, keywardv1.PolicyViolationCondition)).To(BeTrue())
	g.Expect(got.Status.ViolatedPolicies).To(BeEmpty())
	g.Eventually(func(g Gomega) {
		got := &keywardv1.KeyPolicy{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
		g.Expect(got.Status.ViolatingKeys).To(BeZero())
	}).WithTimeout(timeout).Should(Succeed())
	g.Expect(recordFor(g, key.Status.KeyID).State).To(Equal(record.Active))
}
