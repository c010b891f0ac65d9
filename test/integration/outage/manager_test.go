package outage

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/audit"
)

func TestTheManagerRotatesOnceAcrossAnOutage(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(g)
	const name = "rotates-in-an-outage"
	interval, grace := int64(12), int64(3600)
	first := applyKey(g, ns, name, &keywardv1.Rotation{IntervalSeconds: &interval, GracePeriodSeconds: &grace})
	var k *keywardv1.APIKey
	g.Eventually(func(g Gomega) {
		k = getKey(g, ns, name)
		g.Expect(k.Status.SecretGeneration).To(Equal(int64(1)))
		g.Expect(k.Status.KeyID).NotTo(BeEmpty())
		g.Expect(k.Status.NextRotationTime).NotTo(BeNil())
	}).WithTimeout(waitFor).Should(Succeed())
	keyID, due := k.Status.KeyID, k.Status.NextRotationTime.Time
	g.Expect(time.Until(due)).To(BeNumerically(">", 2*time.Second), "the API server stops before the rotation is due")

	stopping := time.Now()
	g.Expect(env.StopAPIServer()).To(Succeed())
	// What is waited for is the schedule, not another goroutine: the
	// rotation falls due while the API server is away.
	<-time.After(time.Until(due.Add(2 * time.Second)))
	restarting := time.Now()
	g.Expect(env.StartAPIServer()).To(Succeed())

	// Converged: rotated, reconciled, Ready, and no write for a second, so
	// that a second rotation still on its way would have been made.
	var lastVersion string
	var unchangedSince time.Time
	g.Eventually(func(g Gomega) {
		k = getKey(g, ns, name)
		g.Expect(k.Status.SecretGeneration).To(Equal(int64(2)))
		g.Expect(k.Status.ObservedGeneration).To(Equal(k.Generation))
		g.Expect(meta.IsStatusConditionTrue(k.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue())
		if k.ResourceVersion != lastVersion {
			lastVersion, unchangedSince = k.ResourceVersion, time.Now()
		}
		g.Expect(time.Since(unchangedSince)).To(BeNumerically(">=", time.Second), "status is still being written")
	}).WithTimeout(waitFor).Should(Succeed())
	converged := unchangedSince

	g.Expect(k.Status.LastRotationTime).NotTo(BeNil())
	g.Expect(k.Status.LastRotationTime.Time).To(BeTemporally(">=", due.Truncate(time.Second)))
	g.Expect(k.Status.NextRotationTime.Time).To(BeTemporally(">", k.Status.LastRotationTime.Time))
	g.Expect(trailActions(g, keyID, audit.Rotated)).To(Equal(1), "rotated exactly once")
	g.Expect(trailActions(g, keyID, audit.Reissued)).To(BeZero())
	g.Expect(publishedRecord(g, keyID).Secrets).To(HaveLen(2), "the new secret, and the old one in its grace period")
	g.Expect(deliveredKey(g, ns, name)).NotTo(Equal(first), "the delivery Secret holds the new key")
	// New work is taken up at once, not after client-go's backoff.
	asked := time.Now()
	applyKey(g, ns, "after-the-outage", nil)
	delivered := time.Now()
	g.Expect(delivered.Sub(asked)).To(BeNumerically("<", 10*time.Second))
	select {
	case <-mgr.Done:
		t.Fatalf("the manager stopped in the outage: %v", mgr.Err)
	default:
	}
	t.Logf("rotation due %v into an API-server outage of %v: rotated once, status converged (last written) %v after the API server's start began; a key created after was delivered in %v",
		due.Sub(stopping).Round(time.Millisecond), restarting.Sub(stopping).Round(time.Millisecond), converged.Sub(restarting).Round(time.Millisecond),
		delivered.Sub(asked).Round(time.Millisecond))
}

// trailActions counts the manager's audit lines of action for a key.
func trailActions(g *WithT, keyID, action string) int {
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(managerTrail.String()), "\n") {
		var e audit.Event
		g.Expect(json.Unmarshal([]byte(line), &e)).To(Succeed())
		if e.KeyID == keyID && e.Action == action {
			n++
		}
	}
	return n
}
