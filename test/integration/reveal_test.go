package integration

import (
	"context"
	"maps"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/verifier"
)

// TestAKeyShownOnceKeepsWorkingAtTheVerifier reads a one-time key as
// `kubectl keyward reveal` does (the Secret, then the annotation naming
// the generation read), and checks that nobody can read it again while
// the running verifier still accepts it on every endpoint.
func TestAKeyShownOnceKeepsWorkingAtTheVerifier(t *testing.T) {
	g := NewWithT(t)
	g.Eventually(watch.Ready).WithTimeout(waitFor).Should(BeTrue())
	ctx := context.Background()
	ns := newNamespace(t, g)
	key := applyKey(t, g, ns, "shown-once", keywardv1.APIKeySpec{
		Owner:    "15a6",
		Scopes:   []keywardv1.Scope{"acme/payments/investigations:read"},
		Delivery: &keywardv1.Delivery{RevealOnce: true},
	})
	g.Expect(key).NotTo(BeEmpty())
	accepted := func(g Gomega) {
		for _, ep := range endpoints {
			status, reason := ep.send(g, key, "GET", "/acme/payments/investigations/INV-7", nil)
			g.Expect(reason).To(Equal(string(verifier.ReasonAllowed)), ep.name)
			g.Expect(status).To(Equal(200), ep.name)
		}
	}
	g.Eventually(accepted).WithTimeout(waitFor).Should(Succeed())

	apiKey := &keywardv1.APIKey{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shown-once"}, apiKey)).To(Succeed())
		g.Expect(apiKey.Status.SecretGeneration).To(Equal(int64(1)))
	}).WithTimeout(waitFor).Should(Succeed())
	var delivered corev1.Secret
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shown-once"}, &delivered)).To(Succeed())
	serial := delivered.Annotations[controllers.SerialAnnotation]
	g.Expect(serial).NotTo(BeEmpty())
	patchSpec(g, ns, "shown-once", `{"metadata":{"annotations":{"`+keywardv1.RevealedAnnotation+`":"`+serial+`"}}}`)

	g.Eventually(func(g Gomega) {
		var sec corev1.Secret
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shown-once"}, &sec)).To(Succeed())
		g.Expect(slices.Sorted(maps.Keys(sec.Data))).To(Equal([]string{"keyID", "revealed", "revealedAt"}))
		g.Expect(string(sec.Data["keyID"])).To(Equal(apiKey.Status.KeyID))
	}).WithTimeout(waitFor).Should(Succeed(), "the Secret no longer holds the key")
	accepted(g)
	g.Expect(trail.String()).NotTo(ContainSubstring(key))
}
