package integration

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/verifier"
)

// A detector's finding under Suspend reaches the verifier within a second,
// through the manager and the record watch; acknowledging it lets the key
// back in. Under Revoke the key is denied as revoked, for good.
func TestAFindingSuspendsOrRevokesTheKeyAtTheVerifierWithinASecond(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	g.Eventually(watch.Ready).WithTimeout(waitFor).Should(BeTrue())
	ns := newNamespace(t, g)
	keyWith := func(name string, resp keywardv1.AnomalyResponse) (string, *keywardv1.APIKey) {
		plain := applyKey(t, g, ns, name, keywardv1.APIKeySpec{Owner: "15a6", Scopes: []keywardv1.Scope{"acme/payments/investigations:read"}, AnomalyResponse: &resp})
		expectDecision(g, plain, verifier.ReasonAllowed, waitFor)
		var k *keywardv1.APIKey
		g.Eventually(func(g Gomega) {
			k = getKey(g, ns, name)
			g.Expect(k.Status.KeyID).NotTo(BeEmpty())
		}).WithTimeout(waitFor).Should(Succeed())
		return plain, k
	}

	plain, key := keyWith("travelling", keywardv1.AnomalyResponse{NewLocation: ptr.To(keywardv1.AnomalySuspend)})
	anomalies.Report(analytics.KeyFinding{KeyID: key.Status.KeyID, Finding: analytics.Finding{
		Detector: analytics.NewLocation, Reason: analytics.NewCountry, At: time.Now().Truncate(time.Minute), Actionable: true,
		Message: "Used from NZ (203.0.113.0/24), never seen in 30 days of use (seen: DE, FR).",
	}})
	reported := time.Now()
	expectDecision(g, plain, verifier.ReasonSuspended, time.Second)
	t.Logf("the verifier denied the key (suspended) %v after the finding was reported", time.Since(reported).Round(time.Millisecond))

	var id string
	g.Eventually(func(g Gomega) {
		k := getKey(g, ns, "travelling")
		g.Expect(k.Status.Anomaly).NotTo(BeNil())
		g.Expect(meta.FindStatusCondition(k.Status.Conditions, keywardv1.ReadyCondition).Reason).To(Equal(keywardv1.SuspendedByDetectorReason))
		id = k.Status.Anomaly.ID
	}).WithTimeout(waitFor).Should(Succeed())
	g.Expect(k8s.Patch(ctx, &keywardv1.APIKey{ObjectMeta: key.ObjectMeta},
		client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"keyward.dev/acknowledge-anomaly":"`+id+`"}}}`)))).To(Succeed())
	expectDecision(g, plain, verifier.ReasonAllowed, waitFor)
	// The audit line follows the status write, which follows the record
	// the verifier reads: the key can be allowed a moment before it.
	g.Eventually(managerTrail.String).WithTimeout(waitFor).Should(ContainSubstring(`"action":"anomaly_acknowledged"`))

	plain, key = keyWith("bursting", keywardv1.AnomalyResponse{Volume: ptr.To(keywardv1.AnomalyRevoke)})
	anomalies.Report(analytics.KeyFinding{KeyID: key.Status.KeyID, Finding: analytics.Finding{
		Detector: analytics.Volume, Reason: analytics.VolumeSpike, At: time.Now().Truncate(time.Minute), Actionable: true,
		Message: "1240 requests in the last hour against a baseline of 35 for this hour of the day.",
	}})
	reported = time.Now()
	expectDecision(g, plain, verifier.ReasonRevoked, time.Second)
	t.Logf("the verifier denied the key (revoked) %v after the finding was reported", time.Since(reported).Round(time.Millisecond))
}
