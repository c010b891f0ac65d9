package webhook

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// A KeyPolicy's anomalyResponse is the least a key may ask for: a weaker
// action is refused, naming the detector, both actions and the policy; a
// stricter one, or none, is admitted.
func TestAdmissionRefusesAnAnomalyResponseWeakerThanThePolicys(t *testing.T) {
	ctx := context.Background()
	ns := namespaceWithLabels(t, map[string]string{"team": "anomalies"})
	prod := "prod-" + ns
	createPolicy(t, prod, ns, keywardv1.KeyPolicySpec{AnomalyResponse: &keywardv1.AnomalyResponse{
		NewLocation: ptr.To(keywardv1.AnomalySuspend), Silence: ptr.To(keywardv1.AnomalyAlert),
	}})
	respond := func(r keywardv1.AnomalyResponse) func(*keywardv1.APIKey) {
		return func(k *keywardv1.APIKey) { k.Spec.AnomalyResponse = &r }
	}
	expectRefused(t, ns, map[string]refusal{
		"an alert where the policy suspends": {respond(keywardv1.AnomalyResponse{NewLocation: ptr.To(keywardv1.AnomalyAlert)}),
			[]string{`spec.anomalyResponse.newLocation: Forbidden: Alert is weaker than Suspend, which KeyPolicy "` + prod + `" requires`}},
		"silence ignored where the policy alerts": {respond(keywardv1.AnomalyResponse{Silence: ptr.To(keywardv1.AnomalyIgnore)}),
			[]string{`spec.anomalyResponse.silence: Forbidden: Ignore is weaker than Alert, which KeyPolicy "` + prod + `" requires`}},
	})

	g := NewWithT(t)
	for name, r := range map[string]keywardv1.AnomalyResponse{
		"stricter":                        {NewLocation: ptr.To(keywardv1.AnomalyRevoke)},
		"unset":                           {},
		"a detector the policy leaves be": {Volume: ptr.To(keywardv1.AnomalyIgnore)},
	} {
		k := key(ns, "", respond(r))
		k.GenerateName = "admitted-"
		g.Expect(k8s.Create(ctx, k)).To(Succeed(), name)
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), k) })
	}

	// Weakening an admitted key is refused too.
	k := key(ns, "weakened", respond(keywardv1.AnomalyResponse{NewLocation: ptr.To(keywardv1.AnomalySuspend)}))
	g.Expect(k8s.Create(ctx, k)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), k) })
	patch := client.MergeFrom(k.DeepCopy())
	k.Spec.AnomalyResponse.NewLocation = ptr.To(keywardv1.AnomalyIgnore)
	err := k8s.Patch(ctx, k, patch)
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
	g.Expect(err.Error()).To(ContainSubstring(`spec.anomalyResponse.newLocation: Forbidden: Ignore is weaker than Suspend, which KeyPolicy "` + prod + `" requires`))
}
