package integration

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/verifier"
)

// From spec.rateLimit to a 429 and back into status: the manager publishes
// the limits, the verifier spends from them and reports what the quota has
// left, the manager writes it into the APIKey's status.
func TestAQuotaFromSpecToTrafficToStatus(t *testing.T) {
	g := NewWithT(t)
	g.Eventually(watch.Ready).WithTimeout(waitFor).Should(BeTrue())
	ns := newNamespace(t, g)
	key := applyKey(t, g, ns, "metered", keywardv1.APIKeySpec{
		Owner:  "15a6",
		Scopes: []keywardv1.Scope{"acme/payments/investigations:admin"},
		RateLimit: &keywardv1.RateLimit{
			Quota: &keywardv1.Quota{Credits: 7, Refill: keywardv1.Monthly},
			Costs: &keywardv1.ActionCosts{Write: ptrTo[int64](3)},
		},
	})
	envoy := endpoints[0]
	// The record reaches the verifier asynchronously: the first permitted
	// read is the one that spends.
	g.Eventually(func(g Gomega) {
		status, reason := envoy.send(g, key, "GET", "/acme/payments/investigations/INV-1", trusted(nil))
		g.Expect(reason).To(Equal(string(verifier.ReasonAllowed)))
		g.Expect(status).To(Equal(200))
	}).WithTimeout(waitFor).Should(Succeed())
	for range 2 { // two writes at 3 each: 7 spent
		status, reason := envoy.send(g, key, "POST", "/acme/payments/investigations", trusted(nil))
		g.Expect(status).To(Equal(200), reason)
	}
	status, reason := envoy.send(g, key, "GET", "/acme/payments/investigations/INV-1", trusted(nil))
	g.Expect(reason).To(Equal(string(verifier.ReasonQuotaExhausted)))
	g.Expect(status).To(Equal(429))

	var k keywardv1.APIKey
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "metered"}, &k)).To(Succeed())
		g.Expect(k.Status.Quota).NotTo(BeNil())
		g.Expect(k.Status.Quota.Used).To(Equal(int64(7)))
		g.Expect(k.Status.Quota.Remaining).To(Equal(int64(0)))
		g.Expect(k.Status.Quota.ResetTime).NotTo(BeNil())
	}).WithTimeout(waitFor).Should(Succeed())
	g.Expect(k.Status.Quota.ResetTime.Day()).To(Equal(1), "a monthly quota refills on the 1st")

	g.Eventually(func(g Gomega) {
		var events corev1.EventList
		g.Expect(k8s.List(context.Background(), &events, client.InNamespace(ns))).To(Succeed())
		reasons := []string{}
		for _, e := range events.Items {
			reasons = append(reasons, e.Reason)
		}
		g.Expect(reasons).To(ContainElement(keywardv1.QuotaExhaustedReason))
	}).WithTimeout(waitFor).Should(Succeed())
}
