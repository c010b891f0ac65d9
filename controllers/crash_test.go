package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

var errInjectedCrash = errors.New("injected crash right after a write")

// crashAfter kills the reconcile right after the n-th write that concerns
// namespace ns, and checks the invariants after every such write: what a
// crash at that instant would leave behind.
type crashAfter struct {
	ns      string
	n       int
	mu      sync.Mutex
	seen    int
	crashed string
	broken  []string
	// currents and nexts are the distinct keys seen as "key" and
	// "nextKey": a doubled mint or rotation shows up as one too many.
	currents, nexts map[string]bool
	// lost are the serials whose plaintext the test itself destroyed:
	// their hashes may stay published until the manager replaces them.
	lost map[string]bool
}

func (c *crashAfter) hook(verb string, obj any) error {
	if !concerns(obj, c.ns) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen++
	if c.currents == nil {
		c.currents, c.nexts = map[string]bool{}, map[string]bool{}
	}
	if msg := invariantsBroken(c.ns, c.currents, c.nexts, c.lost); msg != "" {
		c.broken = append(c.broken, fmt.Sprintf("after write %d (%s %s): %s", c.seen, verb, describe(obj), msg))
	}
	if c.seen == c.n {
		c.crashed = fmt.Sprintf("%s %s", verb, describe(obj))
		return errInjectedCrash
	}
	return nil
}

func concerns(obj any, ns string) bool {
	switch o := obj.(type) {
	case client.Object:
		return o.GetNamespace() == ns || strings.HasPrefix(o.GetAnnotations()[record.APIKeyAnnotation], ns+"/")
	case *corev1ac.SecretApplyConfiguration:
		return deref(o.Namespace) == ns || strings.HasPrefix(o.Annotations[record.APIKeyAnnotation], ns+"/")
	}
	return false
}

// invariantsBroken reads what the API server holds and checks invariant 2:
// every published hash belongs to a delivered plaintext, and an active
// record always accepts the key consumers read. A plaintext the test
// destroyed (lost) cannot be delivered, and while the delivery Secret holds
// no key at all, consumers read none.
func invariantsBroken(ns string, currents, nexts, lost map[string]bool) string {
	ctx := context.Background()
	list := &keywardv1.APIKeyList{}
	if err := k8s.List(ctx, list, client.InNamespace(ns)); err != nil || len(list.Items) != 1 {
		return ""
	}
	key := &list.Items[0]
	sec, err := liveSecret(key)
	if apierrors.IsNotFound(err) {
		sec = &corev1.Secret{}
	} else if err != nil {
		return err.Error()
	}
	var delivered []keys.Key
	for _, f := range []string{DeliveryKeyField, DeliveryPreviousKeyField, DeliveryNextKeyField} {
		if k, err := keys.ParseFor(string(sec.Data[DeliveryKeyIDField]), string(sec.Data[f])); err == nil {
			delivered = append(delivered, k)
		}
	}
	if raw, ok := sec.Data[DeliveryKeyField]; ok {
		currents[string(raw)] = true
	}
	if raw, ok := sec.Data[DeliveryNextKeyField]; ok {
		nexts[string(raw)] = true
	}
	recs := &corev1.SecretList{}
	if err := k8s.List(ctx, recs, client.InNamespace(verifierNamespace), client.MatchingLabels{record.APIKeyUIDLabel: string(key.UID)}); err != nil {
		return err.Error()
	}
	for _, rs := range recs.Items {
		rec, err := record.Decode(rs.Data[record.DataKey])
		if err != nil {
			return "undecodable record: " + err.Error()
		}
		for _, s := range rec.Secrets {
			if lost[s.Serial] {
				continue
			}
			found := false
			for _, k := range delivered {
				if ok, _ := keys.Verify(k, s.Hash); ok {
					found = true
				}
			}
			if !found {
				return "a published hash has no delivered plaintext (serial " + s.Serial + ")"
			}
		}
		if _, delivered := sec.Data[DeliveryKeyField]; rec.State == record.Active && (delivered || len(lost) == 0) {
			cur, err := keys.ParseFor(string(sec.Data[DeliveryKeyIDField]), string(sec.Data[DeliveryKeyField]))
			if err != nil || !verifierAccepts(rec, cur, apiKeyClock.Now()) {
				return fmt.Sprintf("the record is active but does not accept the key consumers read (serial %s; record %+v)",
					sec.Annotations[SerialAnnotation], rec.Secrets)
			}
		}
	}
	return ""
}

func TestACrashAfterAnyWriteConverges(t *testing.T) {
	flows := []struct {
		name string
		// run drives the flow and waits until it has converged.
		run func(g *WithT, ns string, arm func(lost ...string))
		// currents and nexts: how many distinct keys the flow puts in
		// "key" and "nextKey" when nothing is doubled.
		currents, nexts int
	}{
		{"create", func(g *WithT, ns string, arm func(...string)) {
			arm()
			key := createReady(g, newAPIKey(ns, "k"))
			g.Expect(verifierAccepts(recordFor(g, key.Status.KeyID), deliveredPlaintext(g, key), apiKeyClock.Now())).To(BeTrue())
			// Events are at most once: a crash right after a write may lose
			// one, never repeat it.
			g.Expect(eventCount(g, key, keywardv1.CreatedReason)).To(BeNumerically("<=", 1))
		}, 1, 0},
		{"import", func(g *WithT, ns string, arm func(...string)) {
			legacy, _ := keys.Generate("")
			src := importSecret(g, ns, "legacy", keywardv1.ImportSecretType, legacy.Plaintext())
			arm()
			key := createReady(g, newAPIKey(ns, "k", importingSecret("legacy")))
			// Converged: the imported key, and no other, is delivered and
			// verifies, and its Secret is consumed.
			g.Expect(deliveredPlaintext(g, key).Equal(legacy)).To(BeTrue())
			g.Expect(verifierAccepts(recordFor(g, legacy.ID()), legacy, apiKeyClock.Now())).To(BeTrue())
			g.Eventually(gone(src)).WithTimeout(timeout).Should(BeTrue())
		}, 1, 0},
		{"foreign import", func(g *WithT, ns string, arm func(...string)) {
			foreign := "sk_live_" + ns + "_ForeignKeyOfTheOldSystem"
			src := importSecret(g, ns, "legacy", keywardv1.ImportSecretType, foreign)
			arm()
			key := createReady(g, newAPIKey(ns, "k", importingSecret("legacy")))
			// Converged: the foreign key, under one key ID, is delivered
			// as it is and verifies, and its Secret is consumed.
			delivered := deliveredPlaintext(g, key)
			g.Expect(delivered.Plaintext()).To(Equal(foreign))
			rec := recordFor(g, key.Status.KeyID)
			g.Expect(rec.LookupIDs()).To(HaveLen(1))
			g.Expect(verifierAccepts(rec, delivered, apiKeyClock.Now())).To(BeTrue())
			g.Eventually(gone(src)).WithTimeout(timeout).Should(BeTrue())
			recs := &corev1.SecretList{}
			g.Expect(k8s.List(context.Background(), recs, client.InNamespace(verifierNamespace),
				client.MatchingLabels{record.LookupIDLabel: rec.LookupIDs()[0]})).To(Succeed())
			g.Expect(recs.Items).To(HaveLen(1), "one record per foreign key, however the import was interrupted")
		}, 1, 0},
		{"rotate", func(g *WithT, ns string, arm func(...string)) {
			key := createReady(g, newAPIKey(ns, "k", func(k *keywardv1.APIKey) {
				k.Spec.Rotation = &keywardv1.Rotation{Trigger: "a", GracePeriodSeconds: ptr.To[int64](1)}
			}))
			original := deliveredPlaintext(g, key)
			arm()
			patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.Rotation.Trigger = "b" })
			// Converged: rotated once, grace over, only the new key verifies.
			// The grace runs out while the test waits: the manager's clock
			// moves on a second at every look, and the reconcile the
			// manager requeued finds it over.
			g.Eventually(func(g Gomega) {
				apiKeyClock.Step(time.Second)
				_, inGrace := deliveredField(g, key, DeliveryPreviousKeyField)
				g.Expect(inGrace).To(BeFalse())
				cur := deliveredPlaintext(g, key)
				g.Expect(cur.Equal(original)).To(BeFalse())
				rec := recordFor(g, key.Status.KeyID)
				g.Expect(rec.Secrets).To(HaveLen(1))
				g.Expect(verifierAccepts(rec, cur, apiKeyClock.Now())).To(BeTrue())
				// ...and the status says so (the flow's last write).
				got := &keywardv1.APIKey{}
				g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
				g.Expect(got.Status.SecretGeneration).To(Equal(int64(2)))
				g.Expect(meta.IsStatusConditionFalse(got.Status.Conditions, keywardv1.RotatingCondition)).To(BeTrue())
				g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue())
			}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
			g.Expect(eventCount(g, key, keywardv1.RotatedReason)).To(BeNumerically("<=", 1))
			g.Expect(auditFor(key)).To(HaveEach(Not(Equal("reissued"))))
		}, 2, 1},
		{"reissue", func(g *WithT, ns string, arm func(...string)) {
			key := createReady(g, newAPIKey(ns, "k"))
			original := deliveredPlaintext(g, key)
			var serials []string
			for _, s := range recordFor(g, key.Status.KeyID).Secrets {
				serials = append(serials, s.Serial)
			}
			arm(serials...)
			// Whoever edits the namespace deletes the delivery Secret.
			g.Expect(k8s.Delete(context.Background(), deliverySecret(g, key))).To(Succeed())
			// Converged: one new secret, delivered and verifying; the lost
			// one no longer verifies.
			g.Eventually(func(g Gomega) {
				cur := deliveredPlaintext(g, key)
				g.Expect(cur.Equal(original)).To(BeFalse())
				g.Expect(cur.ID()).To(Equal(original.ID()))
				rec := recordFor(g, key.Status.KeyID)
				g.Expect(rec.Secrets).To(HaveLen(1))
				g.Expect(verifierAccepts(rec, cur, apiKeyClock.Now())).To(BeTrue())
				g.Expect(verifierAccepts(rec, original, apiKeyClock.Now())).To(BeFalse())
				got := &keywardv1.APIKey{}
				g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
				g.Expect(got.Status.SecretGeneration).To(Equal(int64(2)))
				g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue())
			}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
			g.Expect(auditFor(key)).To(ContainElement("reissued"))
		}, 1, 1},
	}
	for _, flow := range flows {
		t.Run(flow.name, func(t *testing.T) {
			for n := 1; n <= 15; n++ {
				g := NewWithT(t)
				ns := newNamespace(t)
				c := &crashAfter{ns: ns, n: n}
				flow.run(g, ns, func(lost ...string) {
					c.lost = map[string]bool{}
					for _, serial := range lost {
						c.lost[serial] = true
					}
					writes.setAfterWrite(c.hook)
				})
				writes.setAfterWrite(nil)
				c.mu.Lock()
				crashed, broken, currents, nexts := c.crashed, c.broken, len(c.currents), len(c.nexts)
				c.mu.Unlock()
				g.Expect(broken).To(BeEmpty(), "invariants with a crash after write %d (%s)", n, crashed)
				g.Expect(currents).To(Equal(flow.currents), "keys consumers saw, crash after write %d (%s)", n, crashed)
				g.Expect(nexts).To(Equal(flow.nexts), "new secrets stored, crash after write %d (%s)", n, crashed)
				if crashed == "" {
					t.Logf("%s: covered a crash after each of its %d writes", flow.name, n-1)
					g.Expect(n).To(BeNumerically(">", 3), "the flow made writes")
					return
				}
				t.Logf("%s: crash after write %d (%s) converged", flow.name, n, crashed)
			}
			t.Fatalf("%s: more writes than this test expects", flow.name)
		})
	}
}
