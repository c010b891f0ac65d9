package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// verifierAccepts answers as the verifier will from the record alone: the
// key is active and one of its unexpired hashes verifies the key.
func verifierAccepts(rec record.Record, k keys.Key, now time.Time) bool {
	if rec.State != record.Active {
		return false
	}
	for _, s := range rec.Secrets {
		if s.NotAfter != nil && !now.Before(*s.NotAfter) {
			continue
		}
		if ok, _ := keys.Verify(k, s.Hash); ok {
			return true
		}
	}
	return false
}

// deliveredField reads one key from the delivery Secret, if present.
func deliveredField(g Gomega, key *keywardv1.APIKey, field string) (keys.Key, bool) {
	sec := deliverySecret(g, key)
	raw, ok := sec.Data[field]
	if !ok {
		return keys.Key{}, false
	}
	// ParseFor: an imported foreign key is delivered in its own format.
	k, err := keys.ParseFor(string(sec.Data[DeliveryKeyIDField]), string(raw))
	g.Expect(err).NotTo(HaveOccurred())
	return k, true
}

// deleteAtEnd removes a key when the test ends, so that its schedule stops
// writing while later tests count writes.
func deleteAtEnd(t *testing.T, key *keywardv1.APIKey) {
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), key) })
}

func patchKey(g *WithT, key *keywardv1.APIKey, change func(*keywardv1.APIKey)) {
	latest := &keywardv1.APIKey{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), latest)).To(Succeed())
	patch := client.MergeFrom(latest.DeepCopy())
	change(latest)
	g.Expect(k8s.Patch(context.Background(), latest, patch)).To(Succeed())
}

// auditFor returns the audit actions recorded for one key, in order.
func auditFor(key *keywardv1.APIKey) []string {
	var out []string
	for _, line := range strings.Split(auditLines.String(), "\n") {
		if strings.Contains(line, `"namespace":"`+key.Namespace+`"`) && strings.Contains(line, `"name":"`+key.Name+`"`) {
			i := strings.Index(line, `"action":"`)
			rest := line[i+len(`"action":"`):]
			out = append(out, rest[:strings.Index(rest, `"`)])
		}
	}
	return out
}

func eventCount(g Gomega, key *keywardv1.APIKey, reason string) int {
	return len(eventsFor(g, key)[reason])
}

func liveSecret(key *keywardv1.APIKey) (*corev1.Secret, error) {
	sec := &corev1.Secret{}
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: key.Namespace, Name: key.DeliverySecretName()}, sec)
	return sec, err
}

// advance steps the manager's clock and has the manager reconcile keys at
// the new instant at once, rather than when the requeue it asked for
// fires: that timer runs on the real clock.
func advance(g Gomega, d time.Duration, keys ...*keywardv1.APIKey) {
	apiKeyClock.Step(d)
	for _, key := range keys {
		nudge := fmt.Sprintf(`{"metadata":{"annotations":{"test.keyward.dev/nudge":"%d"}}}`, rand.Uint64())
		g.Expect(k8s.Patch(context.Background(), &keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}},
			client.RawPatch(types.MergePatchType, []byte(nudge)))).To(Succeed())
	}
}

// sweepTombstone has the janitor look at a key's record at once, as its
// own requeue would once the real clock caught up with apiKeyClock. A
// sweep that loses a race with the manager changes nothing; the janitor's
// requeue then repeats it.
func sweepTombstone(keyID string) {
	req := reconcile.Request{NamespacedName: client.ObjectKey{Namespace: verifierNamespace, Name: record.SecretName(keyID)}}
	_, _ = janitor.Reconcile(context.Background(), req)
}
