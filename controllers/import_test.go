package controllers

import (
	"context"
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
	"github.com/keyward-dev/keyward/internal/record"
)

// importSecret creates the Secret a plaintext import reads.
func importSecret(g *WithT, ns, name string, typ corev1.SecretType, plaintext string) *corev1.Secret {
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       typ,
		Data:       map[string][]byte{keywardv1.ImportSecretDefaultKey: []byte(plaintext)},
	}
	g.Expect(k8s.Create(context.Background(), sec)).To(Succeed())
	return sec
}

func importingSecret(name string) func(*keywardv1.APIKey) {
	return func(k *keywardv1.APIKey) {
		k.Spec.Import = &keywardv1.KeyImport{SecretRef: &keywardv1.ImportSecretReference{Name: name}}
	}
}

func importingHash(keyID, phc string) func(*keywardv1.APIKey) {
	return func(k *keywardv1.APIKey) {
		k.Spec.Import = &keywardv1.KeyImport{KeyID: keyID, Hash: phc}
	}
}

// foreignHash is a hash made elsewhere: another iteration count than the
// manager's.
func foreignHash(g *WithT, k keys.Key) string {
	h, err := keys.NewHasher(keys.MinImportIterations, true)
	g.Expect(err).NotTo(HaveOccurred())
	phc, err := h.Hash(k)
	g.Expect(err).NotTo(HaveOccurred())
	return phc
}

// refusedImport waits for the key to be refused and returns the message.
func refusedImport(g *WithT, key *keywardv1.APIKey) string {
	got := waitFor(g, key, keywardv1.ImportRefusedReason)
	g.Expect(got.Status.ImportedTime).To(BeNil())
	g.Expect(got.Status.KeyID).To(BeEmpty())
	return meta.FindStatusCondition(got.Status.Conditions, keywardv1.ReadyCondition).Message
}

func rotateByTrigger(g *WithT, key *keywardv1.APIKey, trigger string) {
	patchKey(g, key, func(k *keywardv1.APIKey) {
		if k.Spec.Rotation == nil {
			k.Spec.Rotation = &keywardv1.Rotation{}
		}
		k.Spec.Rotation.Trigger = trigger
	})
}

// The attacker has edit in their namespace and wants a victim's key ID:
// the record is created only, so the import is refused whoever holds it,
// the victim's record is not touched, and the refusal names nobody.
func TestImportOfAnotherNamespacesKeyIDIsRefused(t *testing.T) {
	g := NewWithT(t)
	victimNS, attackerNS := newNamespace(t), newNamespace(t)
	victim := createReady(g, newAPIKey(victimNS, "victim-key"))
	victimPlain := deliveredPlaintext(g, victim)
	before := recordSecret(g, victim.Status.KeyID)

	forged, err := keys.Generate(victim.Status.KeyID)
	g.Expect(err).NotTo(HaveOccurred())
	importSecret(g, attackerNS, "forged", keywardv1.ImportSecretType, forged.Plaintext())
	byPlain := newAPIKey(attackerNS, "by-plain", importingSecret("forged"))
	byHash := newAPIKey(attackerNS, "by-hash", importingHash(victim.Status.KeyID, foreignHash(g, forged)))
	for _, k := range []*keywardv1.APIKey{byPlain, byHash} {
		g.Expect(k8s.Create(context.Background(), k)).To(Succeed())
		msg := refusedImport(g, k)
		g.Expect(msg).To(ContainSubstring("bound to an existing or revoked key"))
		g.Expect(msg).NotTo(ContainSubstring(victimNS))
		g.Expect(msg).NotTo(ContainSubstring("victim-key"))
	}
	after := recordSecret(g, victim.Status.KeyID)
	g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "the victim's record is untouched")
	rec := recordFor(g, victim.Status.KeyID)
	g.Expect(verifierAccepts(rec, victimPlain, apiKeyClock.Now())).To(BeTrue())
	g.Expect(verifierAccepts(rec, forged, apiKeyClock.Now())).To(BeFalse())
	g.Expect(rec.APIKey.Namespace).To(Equal(victimNS))
	// A refused import consumes nothing: the attacker's Secret stays.
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: attackerNS, Name: "forged"}, &corev1.Secret{})).To(Succeed())
}

// A revoked key's tombstone keeps its key ID: an import cannot revive it.
func TestImportOfARevokedKeysIDIsRefused(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	old := createReady(g, newAPIKey(ns, "leaked"))
	oldPlain := deliveredPlaintext(g, old)
	patchKey(g, old, func(k *keywardv1.APIKey) { k.Spec.Revoked = true })
	waitFor(g, old, keywardv1.RevokedReason)
	g.Expect(recordFor(g, old.Status.KeyID).State).To(Equal(record.Revoked))

	importSecret(g, ns, "revive", keywardv1.ImportSecretType, oldPlain.Plaintext())
	for _, k := range []*keywardv1.APIKey{
		newAPIKey(ns, "revive-plain", importingSecret("revive")),
		newAPIKey(ns, "revive-hash", importingHash(old.Status.KeyID, foreignHash(g, oldPlain))),
	} {
		g.Expect(k8s.Create(context.Background(), k)).To(Succeed())
		g.Expect(refusedImport(g, k)).To(ContainSubstring("bound to an existing or revoked key"))
	}
	tomb := recordFor(g, old.Status.KeyID)
	g.Expect(tomb.State).To(Equal(record.Revoked))
	g.Expect(tomb.Secrets).To(BeEmpty())
}

// secretRef can name any Secret of the namespace: only the import type is
// read, so another key's delivery Secret is neither read nor deleted.
func TestImportNamingADeliverySecretIsRefusedAndLeavesItAlone(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	other := createReady(g, newAPIKey(ns, "other"))
	before := deliverySecret(g, other)

	for name, typ := range map[string]string{other.DeliverySecretName(): string(DeliverySecretType)} {
		thief := newAPIKey(ns, "thief", importingSecret(name))
		g.Expect(k8s.Create(context.Background(), thief)).To(Succeed())
		msg := refusedImport(g, thief)
		g.Expect(msg).To(ContainSubstring(`has type "` + typ + `"`))
		g.Expect(msg).To(ContainSubstring("reads only Secrets of type keyward.dev/import"))
		g.Expect(msg).NotTo(ContainSubstring(deliveredPlaintext(g, other).Plaintext()))
	}
	after := deliverySecret(g, other)
	g.Expect(after.UID).To(Equal(before.UID), "not deleted")
	g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "not written")
	waitFor(g, other, keywardv1.KeyReadyReason)
}

func TestImportRefusesWhatItCannotTakeOver(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	k, _ := keys.Generate("")
	salt16 := "yMnKy8zNzs/Q0dLT1NXW1w"
	digest := "PMpEOhd2OuQsd33bYhN+3V9B7oaurW01dY1jehRSJ+I"
	importSecret(g, ns, "foreign", keywardv1.ImportSecretType, "sk_live_51HxLegacyKey FromTheOldSystem")
	importSecret(g, ns, "typo", keywardv1.ImportSecretType, k.Plaintext()[:len(k.Plaintext())-1]+"x")
	cases := map[string]struct {
		mutate func(*keywardv1.APIKey)
		msg    string
	}{
		"one iteration":            {importingHash(k.ID(), "$pbkdf2-sha256$i=1$"+salt16+"$"+digest), "1 PBKDF2 iterations"},
		"4-byte salt":              {importingHash(k.ID(), "$pbkdf2-sha256$i=29000$AAECAw$"+digest), "salt is 4 bytes"},
		"bcrypt":                   {importingHash(k.ID(), "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"), "the hash is bcrypt"},
		"outside the foreign form": {importingSecret("foreign"), "neither a key in keyward's format nor a key of another format keyward can import"},
		"wrong checksum":           {importingSecret("typo"), "checksum"},
		"wrong data key": {func(a *keywardv1.APIKey) {
			importingSecret("foreign")(a)
			a.Spec.Import.SecretRef.Key = "token"
		}, `has no data key "token"`},
	}
	i := 0
	for name, c := range cases {
		i++
		key := newAPIKey(ns, "refused-"+string(rune('a'+i)), c.mutate)
		g.Expect(k8s.Create(context.Background(), key)).To(Succeed(), name)
		msg := refusedImport(g, key)
		g.Expect(msg).To(ContainSubstring(c.msg), name)
		g.Expect(msg).NotTo(ContainSubstring("FromTheOldSystem"), name)
		g.Expect(msg).NotTo(ContainSubstring(k.Plaintext()[:40]), name)
	}
	g.Expect(logs.String()).NotTo(ContainSubstring("FromTheOldSystem"))
}

func TestImportIsSetAtCreationOnly(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	k, _ := keys.Generate("")
	minted := createReady(g, newAPIKey(ns, "minted"))
	latest := &keywardv1.APIKey{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(minted), latest)).To(Succeed())
	importingHash(k.ID(), foreignHash(g, k))(latest)
	g.Expect(k8s.Update(context.Background(), latest)).To(MatchError(ContainSubstring("import is set at creation only")))

	imported := createReady(g, newAPIKey(ns, "imported", importingHash(k.ID(), foreignHash(g, k))))
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(imported), latest)).To(Succeed())
	other, _ := keys.Generate("")
	importingHash(other.ID(), foreignHash(g, other))(latest)
	g.Expect(k8s.Update(context.Background(), latest)).To(MatchError(ContainSubstring("import is set at creation only")))
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(imported), latest)).To(Succeed())
	latest.Spec.Import = nil
	g.Expect(k8s.Update(context.Background(), latest)).To(MatchError(ContainSubstring("import is set at creation only")))

	both := newAPIKey(ns, "both", importingHash(k.ID(), foreignHash(g, k)))
	both.Spec.Import.SecretRef = &keywardv1.ImportSecretReference{Name: "x"}
	g.Expect(k8s.Create(context.Background(), both)).To(MatchError(ContainSubstring("set exactly one of import.secretRef")))
	noID := newAPIKey(ns, "no-id", importingHash(k.ID(), foreignHash(g, k)))
	noID.Spec.Import.KeyID = ""
	g.Expect(k8s.Create(context.Background(), noID)).To(MatchError(ContainSubstring("import.keyID is set exactly with import.hash")))
}

// The import Secret's plaintext is the key, under its own key ID; the
// Secret goes once the record is published, and one created again under
// its name is never read. The first rotation moves the key into a
// keyward-minted secret under the same key ID; the imported one verifies
// through the grace period only.
func TestImportedPlaintextIsDeliveredConsumedAndRotatedOut(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	legacy, _ := keys.Generate("")
	src := importSecret(g, ns, "legacy", keywardv1.ImportSecretType, legacy.Plaintext())
	key := newAPIKey(ns, "imported", importingSecret("legacy"), func(k *keywardv1.APIKey) {
		k.Spec.Rotation = &keywardv1.Rotation{Trigger: "t0", GracePeriodSeconds: ptr.To[int64](600)}
	})
	key = createReady(g, key)
	g.Expect(key.Status.KeyID).To(Equal(legacy.ID()), "a keyward-format key keeps its key ID")
	g.Expect(key.Status.ImportedTime).NotTo(BeNil())
	g.Expect(deliveredPlaintext(g, key).Equal(legacy)).To(BeTrue())
	g.Expect(verifierAccepts(recordFor(g, legacy.ID()), legacy, apiKeyClock.Now())).To(BeTrue())
	g.Expect(recordFor(g, legacy.ID()).Secrets[0].Hash).To(HavePrefix("$pbkdf2-sha256$i=1000$"), "hashed like a minted key")
	g.Eventually(gone(src)).WithTimeout(timeout).Should(BeTrue(), "the import Secret is consumed")
	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, key)[keywardv1.CreatedReason]).To(ConsistOf(
			"Imported key 15a6/" + legacy.ID() + " from Secret legacy, delivered to Secret imported."))
	}).WithTimeout(timeout).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(recordFor(g, legacy.ID()).Ledger.ImportedFrom).To(BeEmpty())
	}).WithTimeout(timeout).Should(Succeed())

	// A Secret put back under the name is never read nor deleted.
	decoy, _ := keys.Generate("")
	again := importSecret(g, ns, "legacy", keywardv1.ImportSecretType, decoy.Plaintext())
	advance(g, time.Second, key)
	waitFor(g, key, keywardv1.KeyReadyReason)
	g.Expect(deliveredPlaintext(g, key).Equal(legacy)).To(BeTrue())
	g.Expect(gone(again)()).To(BeFalse())
	g.Expect(verifierAccepts(recordFor(g, legacy.ID()), decoy, apiKeyClock.Now())).To(BeFalse())

	rotateByTrigger(g, key, "t1")
	var minted keys.Key
	g.Eventually(func(g Gomega) {
		prev, ok := deliveredField(g, key, DeliveryPreviousKeyField)
		g.Expect(ok).To(BeTrue())
		g.Expect(prev.Equal(legacy)).To(BeTrue())
		minted = deliveredPlaintext(g, key)
		g.Expect(minted.Equal(legacy)).To(BeFalse())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(minted.ID()).To(Equal(legacy.ID()))
	rec := recordFor(g, legacy.ID())
	g.Expect(verifierAccepts(rec, minted, apiKeyClock.Now())).To(BeTrue())
	g.Expect(verifierAccepts(rec, legacy, apiKeyClock.Now())).To(BeTrue(), "during the grace period")
	g.Expect(verifierAccepts(rec, legacy, apiKeyClock.Now().Add(601*time.Second))).To(BeFalse(), "after it")
}

// A hash import publishes the hash as it came (its own iteration count)
// and delivers only the key ID; the first rotation delivers a keyward
// secret for the first time, and the imported hash verifies through the
// grace period only.
func TestImportedHashVerifiesWithoutAPlaintextAndIsRotatedOut(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	legacy, _ := keys.Generate("")
	phc := foreignHash(g, legacy)
	key := createReady(g, newAPIKey(ns, "by-hash", importingHash(legacy.ID(), phc), func(k *keywardv1.APIKey) {
		k.Spec.Rotation = &keywardv1.Rotation{Trigger: "t0", GracePeriodSeconds: ptr.To[int64](600)}
	}))
	g.Expect(key.Status.KeyID).To(Equal(legacy.ID()))
	g.Expect(key.Status.ImportedTime).NotTo(BeNil())
	sec := deliverySecret(g, key)
	g.Expect(sec.Data).To(Equal(map[string][]byte{DeliveryKeyIDField: []byte(legacy.ID())}))
	g.Expect(sec.Annotations).To(HaveKeyWithValue(ImportedAnnotation, ImportedByHash))
	delivered := meta.FindStatusCondition(key.Status.Conditions, keywardv1.DeliveredCondition)
	g.Expect(delivered.Message).To(ContainSubstring("imported by hash"))
	rec := recordFor(g, legacy.ID())
	g.Expect(rec.Secrets).To(HaveLen(1))
	g.Expect(rec.Secrets[0].Hash).To(Equal(phc))
	g.Expect(verifierAccepts(rec, legacy, apiKeyClock.Now())).To(BeTrue())
	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, key)[keywardv1.CreatedReason]).To(ConsistOf(
			"Imported key 15a6/" + legacy.ID() + " by hash; Secret by-hash holds its key ID only."))
	}).WithTimeout(timeout).Should(Succeed())

	// Nothing is lost or reissued on later reconciles.
	advance(g, time.Second, key)
	key = waitFor(g, key, keywardv1.KeyReadyReason)
	g.Expect(key.Status.SecretGeneration).To(Equal(int64(1)))
	g.Expect(recordFor(g, legacy.ID()).Secrets[0].Hash).To(Equal(phc))

	rotateByTrigger(g, key, "t1")
	var minted keys.Key
	g.Eventually(func(g Gomega) {
		var ok bool
		minted, ok = deliveredField(g, key, DeliveryKeyField)
		g.Expect(ok).To(BeTrue())
		g.Expect(verifierAccepts(recordFor(g, legacy.ID()), minted, apiKeyClock.Now())).To(BeTrue())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Expect(minted.ID()).To(Equal(legacy.ID()))
	key = waitFor(g, key, keywardv1.KeyReadyReason)
	g.Expect(key.Status.SecretGeneration).To(Equal(int64(2)))
	g.Expect(deliverySecret(g, key).Annotations).NotTo(HaveKey(ImportedAnnotation))
	rec = recordFor(g, legacy.ID())
	g.Expect(verifierAccepts(rec, legacy, apiKeyClock.Now())).To(BeTrue(), "during the grace period")
	g.Expect(verifierAccepts(rec, legacy, apiKeyClock.Now().Add(601*time.Second))).To(BeFalse(), "after it")

	advance(g, 601*time.Second, key)
	g.Eventually(func(g Gomega) {
		rec := recordFor(g, legacy.ID())
		g.Expect(rec.Secrets).To(HaveLen(1))
		g.Expect(verifierAccepts(rec, legacy, apiKeyClock.Now())).To(BeFalse())
		g.Expect(verifierAccepts(rec, minted, apiKeyClock.Now())).To(BeTrue())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

// An import Secret created after its APIKey is picked up.
func TestImportWaitsForItsSecret(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := newAPIKey(ns, "early", importingSecret("later"))
	g.Expect(k8s.Create(context.Background(), key)).To(Succeed())
	waitFor(g, key, keywardv1.ImportPendingReason)
	legacy, _ := keys.Generate("")
	src := importSecret(g, ns, "later", keywardv1.ImportSecretType, legacy.Plaintext())
	got := waitFor(g, key, keywardv1.KeyReadyReason)
	g.Expect(got.Status.KeyID).To(Equal(legacy.ID()))
	g.Eventually(gone(src)).WithTimeout(timeout).Should(BeTrue())
}

// The manager re-checks the policy, as for a minted key: an import that
// breaks a policy in Suspend mode takes nothing over (no record, the
// import Secret kept) until it complies.
func TestAnImportThatBreaksPolicyWaitsUntilItComplies(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	team := "import-" + ns
	labelNamespace(t, ns, map[string]string{"team": team})
	p := &keywardv1.KeyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: team},
		Spec: keywardv1.KeyPolicySpec{
			NamespaceSelector:      metav1.LabelSelector{MatchLabels: map[string]string{"team": team}},
			SourceCIDRsRequiredFor: []keywardv1.Action{"write"},
			Enforcement:            keywardv1.EnforcementSuspend,
		},
	}
	g.Expect(k8s.Create(ctx, p)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })

	plain, _ := keys.Generate("")
	hashed, _ := keys.Generate("")
	src := importSecret(g, ns, "legacy", keywardv1.ImportSecretType, plain.Plaintext())
	writer := func(k *keywardv1.APIKey) {
		k.Spec.Scopes = []keywardv1.Scope{"acme/payments/evidence:write"}
		k.Spec.Conditions = nil
	}
	imports := []*keywardv1.APIKey{
		newAPIKey(ns, "plain", importingSecret("legacy"), writer),
		newAPIKey(ns, "hashed", importingHash(hashed.ID(), foreignHash(g, hashed)), writer),
	}
	for _, k := range imports {
		g.Expect(k8s.Create(ctx, k)).To(Succeed())
		got := waitFor(g, k, keywardv1.PolicyViolatedReason)
		g.Expect(got.Status.KeyID).To(BeEmpty(), "nothing published")
		g.Expect(got.Status.ImportedTime).To(BeNil())
	}
	g.Expect(gone(src)()).To(BeFalse(), "not consumed")

	for i, k := range imports {
		patchKey(g, k, func(a *keywardv1.APIKey) {
			a.Spec.Conditions = &keywardv1.AccessConditions{SourceCIDRs: []keywardv1.CIDR{"10.0.0.0/8"}}
		})
		got := waitFor(g, k, keywardv1.KeyReadyReason)
		want := []keys.Key{plain, hashed}[i]
		g.Expect(got.Status.KeyID).To(Equal(want.ID()))
		g.Expect(verifierAccepts(recordFor(g, want.ID()), want, apiKeyClock.Now())).To(BeTrue())
	}
	g.Eventually(gone(src)).WithTimeout(timeout).Should(BeTrue())
}
