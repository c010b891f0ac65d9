package controllers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/signingrecord"
)

func newIssuerKey(ns, name string) *keywardv1.SigningKey {
	return &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: keywardv1.SigningKeySpec{
			Mode: keywardv1.SigningKeyModeIssuer,
			Issuer: &keywardv1.IssuerKey{
				TokenLifetimeSeconds: ptr.To[int64](300),
				PublishAheadSeconds:  ptr.To[int64](600),
				Rotation:             &keywardv1.SigningKeyRotation{IntervalSeconds: ptr.To[int64](86400)},
			},
		},
	}
}

// nudgeInterval paces the polls that call reconcileSigning. Each nudge
// changes the object, and a reconcile that reads it from a cache still
// behind the API server writes nothing (isFresh) and waits for the next
// event: nudging faster than the cache catches up on a loaded machine
// starves the reconcile it asks for.
const nudgeInterval = time.Second

// reconcileSigning wakes the manager's reconciler after the fake clock
// moved (its RequeueAfter would wait for the real clock) by touching the
// object, and returns what the API server holds. Going through the
// manager keeps reconciles of one object serialized, as in production.
func reconcileSigning(g Gomega, sk *keywardv1.SigningKey) *keywardv1.SigningKey {
	nudge := fmt.Sprintf(`{"metadata":{"annotations":{"test.keyward.dev/nudge":"%d"}}}`, mrand.Uint64())
	g.Expect(k8s.Patch(context.Background(), &keywardv1.SigningKey{ObjectMeta: metav1.ObjectMeta{Namespace: sk.Namespace, Name: sk.Name}},
		client.RawPatch(types.MergePatchType, []byte(nudge)))).To(Succeed())
	got := &keywardv1.SigningKey{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(sk), got)).To(Succeed())
	return got
}

func signingRecordOf(g Gomega, kid string) (signingrecord.Record, *corev1.Secret) {
	sec := &corev1.Secret{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: verifierNamespace, Name: signingrecord.SecretName(kid)}, sec)).To(Succeed())
	rec, err := signingrecord.Decode(sec.Data[signingrecord.DataKey])
	g.Expect(err).NotTo(HaveOccurred())
	return rec, sec
}

func signingEvents(g Gomega, sk *keywardv1.SigningKey) []string {
	list := &corev1.EventList{}
	g.Expect(k8s.List(context.Background(), list, client.InNamespace(sk.Namespace))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == sk.Name && e.InvolvedObject.Kind == "SigningKey" {
			out = append(out, e.Reason)
		}
	}
	return out
}

// TestIssuerRotationTimeline steps a fake clock through a scheduled
// rotation: the new key is published an overlap before it signs, the old
// one signs until then and leaves only after its last token expired.
func TestIssuerRotationTimeline(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sk := newIssuerKey(verifierNamespace, fmt.Sprintf("tokens-%d", mrand.Uint32()))
	g.Expect(k8s.Create(ctx, sk)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(ctx, sk) })

	var first keywardv1.PublishedKey
	g.Eventually(func(g Gomega) {
		got := &keywardv1.SigningKey{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sk), got)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue())
		g.Expect(got.Status.Keys).To(HaveLen(1))
		first = got.Status.Keys[0]
		g.Expect(got.Status.KID).To(Equal(first.KID))
		// Nothing private in status.
		g.Expect(string(mustMarshal(g, got.Status))).NotTo(ContainSubstring("PRIVATE"))
	}, timeout, interval).Should(Succeed())
	rec, sec := signingRecordOf(g, first.KID)
	start := first.ActiveTime.Time
	g.Expect(rec.Signs(start)).To(BeTrue())
	g.Expect(sec.Data).To(HaveKey(signingrecord.PrivateKeyDataKey))
	g.Expect(sec.Labels).To(HaveKeyWithValue(ManagedByLabel, ManagedByValue))

	// The interval passes: a rotation starts.
	rotation := start.Add(24 * time.Hour)
	signingClock.SetTime(rotation)
	var got *keywardv1.SigningKey
	g.Eventually(func(g Gomega) {
		got = reconcileSigning(g, sk)
		g.Expect(got.Status.Keys).To(HaveLen(2))
	}, timeout, nudgeInterval).Should(Succeed())
	old, next := got.Status.Keys[0], got.Status.Keys[1]
	handover := rotation.Add(10 * time.Minute)
	withdraw := handover.Add(5*time.Minute + keywardv1.WithdrawLeeway)
	g.Expect(next.PublishedTime.Time).To(BeTemporally("==", rotation))
	g.Expect(next.ActiveTime.Time).To(BeTemporally("==", handover))
	g.Expect(old.RetiredTime.Time).To(BeTemporally("==", handover))
	g.Expect(old.WithdrawTime.Time).To(BeTemporally("==", withdraw))
	g.Expect(got.Status.KID).To(Equal(next.KID))
	g.Expect(meta.FindStatusCondition(got.Status.Conditions, keywardv1.KeysRotatingCondition).Reason).To(Equal(keywardv1.RotationStartedReason))

	// What the verifier reads: the new key published at once, signing only
	// from the handover; the old key signing until then, published until
	// its last token (signed just before the handover) expired.
	g.Eventually(func(g Gomega) {
		oldRec, _ := signingRecordOf(g, old.KID)
		newRec, _ := signingRecordOf(g, next.KID)
		g.Expect(newRec.Published(rotation)).To(BeTrue())
		g.Expect(newRec.Signs(handover.Add(-time.Second))).To(BeFalse())
		g.Expect(newRec.Signs(handover)).To(BeTrue())
		g.Expect(oldRec.Signs(handover.Add(-time.Second))).To(BeTrue())
		g.Expect(oldRec.Signs(handover)).To(BeFalse())
		lastToken := handover.Add(-time.Second).Add(oldRec.TokenLifetime)
		g.Expect(oldRec.Published(lastToken)).To(BeTrue())
		g.Expect(oldRec.Published(withdraw)).To(BeFalse())
		g.Expect(oldRec.PublishAhead).To(Equal(10 * time.Minute))
	}, timeout, interval).Should(Succeed())

	signingClock.SetTime(handover)
	g.Eventually(func(g Gomega) {
		got = reconcileSigning(g, sk)
		g.Expect(meta.FindStatusCondition(got.Status.Conditions, keywardv1.KeysRotatingCondition).Reason).To(Equal(keywardv1.OverlapReason))
	}, timeout, nudgeInterval).Should(Succeed())

	signingClock.SetTime(withdraw)
	g.Eventually(func(g Gomega) {
		got = reconcileSigning(g, sk)
		g.Expect(got.Status.Keys).To(HaveLen(1))
		g.Expect(got.Status.Keys[0].KID).To(Equal(next.KID))
		g.Expect(meta.IsStatusConditionFalse(got.Status.Conditions, keywardv1.KeysRotatingCondition)).To(BeTrue())
	}, timeout, nudgeInterval).Should(Succeed())
	oldSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: signingrecord.SecretName(old.KID)}}
	g.Eventually(gone(oldSecret), timeout, interval).Should(BeTrue(), func() string {
		cur := &keywardv1.SigningKey{}
		_ = k8s.Get(ctx, client.ObjectKeyFromObject(sk), cur)
		var mf []string
		for _, m := range oldSecret.ManagedFields {
			mf = append(mf, fmt.Sprintf("%s %s %v", m.Manager, m.Operation, m.Time))
		}
		return fmt.Sprintf("old key's Secret still there: created %v, written by %v; status %+v; events %v",
			oldSecret.CreationTimestamp, mf, cur.Status, signingEvents(g, sk))
	})
	g.Eventually(func(g Gomega) []string { return signingEvents(g, sk) }, timeout, interval).Should(
		ContainElements(keywardv1.KeyGeneratedReason, keywardv1.RotationStartedReason, keywardv1.KeyActivatedReason, keywardv1.KeyWithdrawnReason))

	// The private key is in its Secret and nowhere else: not in the
	// manager's logs at any level, not in status, not in Events.
	_, sec = signingRecordOf(g, next.KID)
	body := strings.Split(string(sec.Data[signingrecord.PrivateKeyDataKey]), "\n")[1]
	g.Expect(body).To(HaveLen(64))
	g.Expect(logs.String()).NotTo(ContainSubstring(body))
	final := &keywardv1.SigningKey{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sk), final)).To(Succeed())
	g.Expect(string(mustMarshal(g, final))).NotTo(ContainSubstring(body))
	evs := &corev1.EventList{}
	g.Expect(k8s.List(ctx, evs, client.InNamespace(sk.Namespace))).To(Succeed())
	g.Expect(string(mustMarshal(g, evs))).NotTo(ContainSubstring(body))
}

// TestIssuerRotationOnDemand: a changed trigger rotates once; the same
// value re-applied does not rotate again.
func TestIssuerRotationOnDemand(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sk := newIssuerKey(verifierNamespace, fmt.Sprintf("on-demand-%d", mrand.Uint32()))
	sk.Spec.Issuer.Algorithm = keywardv1.ES256
	sk.Spec.Issuer.Rotation = &keywardv1.SigningKeyRotation{Trigger: "2026-11-01"}
	g.Expect(k8s.Create(ctx, sk)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(ctx, sk) })
	g.Eventually(func(g Gomega) {
		got := reconcileSigning(g, sk)
		g.Expect(got.Status.Keys).To(HaveLen(1))
		g.Expect(got.Status.Algorithm).To(Equal(keywardv1.ES256))
	}, timeout, nudgeInterval).Should(Succeed())
	g.Eventually(func(g Gomega) {
		cur := &keywardv1.SigningKey{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sk), cur)).To(Succeed())
		cur.Spec.Issuer.Rotation.Trigger = "2026-11-23"
		g.Expect(k8s.Update(ctx, cur)).To(Succeed())
	}, timeout, interval).Should(Succeed())
	g.Eventually(func(g Gomega) {
		got := reconcileSigning(g, sk)
		g.Expect(got.Status.Keys).To(HaveLen(2))
		g.Expect(got.Status.RotationRequest).To(Equal("2026-11-23/"))
	}, timeout, nudgeInterval).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(reconcileSigning(g, sk).Status.Keys).To(HaveLen(2))
	}, time.Second, 200*time.Millisecond).Should(Succeed())
}

func enrollPEM(g Gomega) (*ecdsa.PrivateKey, string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	g.Expect(err).NotTo(HaveOccurred())
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// enrolledClientKey creates, in a namespace of its own, a Ready APIKey that
// takes client assertions and a client SigningKey enrolled for it.
func enrolledClientKey(t *testing.T, g *WithT) (*keywardv1.APIKey, *keywardv1.SigningKey) {
	t.Helper()
	ns := newNamespace(t)
	ak := createReady(g, newAPIKey(ns, "assertions", func(k *keywardv1.APIKey) {
		k.Spec.AuthMethods = []keywardv1.AuthMethod{keywardv1.AuthMethodClientAssertion}
	}))
	_, pub := enrollPEM(g)
	sk := &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "laptop"},
		Spec: keywardv1.SigningKeySpec{
			Mode: keywardv1.SigningKeyModeClient, Owner: "15a6",
			Client: &keywardv1.ClientKey{APIKeyName: ak.Name, PublicKey: pub},
		},
	}
	g.Expect(k8s.Create(context.Background(), sk)).To(Succeed())
	return ak, sk
}

// TestClientKeyEnrollmentAndEviction: an enrolled key is published for
// its APIKey's key ID; changing spec.evict or the annotation hands the
// verifier a new eviction marker, once per change.
func TestClientKeyEnrollmentAndEviction(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ak, sk := enrolledClientKey(t, g)
	got := &keywardv1.SigningKey{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sk), got)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue())
	}, timeout, interval).Should(Succeed())
	g.Expect(got.Status.KeyID).To(Equal(ak.Status.KeyID))
	rec, _ := signingRecordOf(g, got.Status.KID)
	g.Expect(rec.Mode).To(Equal(signingrecord.Client))
	g.Expect(rec.KeyID).To(Equal(ak.Status.KeyID))
	before := rec.Eviction

	g.Eventually(func(g Gomega) {
		cur := &keywardv1.SigningKey{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sk), cur)).To(Succeed())
		cur.Spec.Evict = "ticket-42"
		g.Expect(k8s.Update(ctx, cur)).To(Succeed())
	}, timeout, interval).Should(Succeed())
	g.Eventually(func(g Gomega) {
		rec, _ := signingRecordOf(g, got.Status.KID)
		g.Expect(rec.Eviction).NotTo(Equal(before))
		before = rec.Eviction
	}, timeout, interval).Should(Succeed())

	g.Eventually(func(g Gomega) {
		cur := &keywardv1.SigningKey{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sk), cur)).To(Succeed())
		cur.Annotations = map[string]string{keywardv1.EvictAnnotation: "1700000000"}
		g.Expect(k8s.Update(ctx, cur)).To(Succeed())
	}, timeout, interval).Should(Succeed())
	g.Eventually(func(g Gomega) {
		rec, _ := signingRecordOf(g, got.Status.KID)
		g.Expect(rec.Eviction).NotTo(Equal(before))
	}, timeout, interval).Should(Succeed())
	g.Eventually(func(g Gomega) []string { return signingEvents(g, sk) }, timeout, interval).Should(
		ContainElements(keywardv1.EnrolledReason, keywardv1.EvictedReason))

	// kubectl get signingkeys --field-selector spec.owner=15a6
	list := &keywardv1.SigningKeyList{}
	g.Expect(k8s.List(ctx, list, client.InNamespace(sk.Namespace), client.MatchingFields{"spec.owner": "15a6"})).To(Succeed())
	g.Expect(list.Items).To(HaveLen(1))
	g.Expect(k8s.List(ctx, list, client.InNamespace(sk.Namespace), client.MatchingFields{"spec.owner": "someone-else"})).To(Succeed())
	g.Expect(list.Items).To(BeEmpty())

	// Deleting the SigningKey removes its Secret from the verifier namespace.
	g.Expect(k8s.Delete(ctx, sk)).To(Succeed())
	g.Eventually(gone(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: signingrecord.SecretName(got.Status.KID)}}), timeout, interval).Should(BeTrue())
}

// TestIssuerOnlyInTheVerifierNamespace: a namespace editor cannot choose
// the key every token is signed with.
func TestIssuerOnlyInTheVerifierNamespace(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sk := newIssuerKey(newNamespace(t), "rogue")
	g.Expect(k8s.Create(ctx, sk)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(ctx, sk) })
	g.Eventually(func(g Gomega) {
		got, c := signingKeyReady(g, sk)
		g.Expect(c.Reason).To(Equal(keywardv1.IssuerNamespaceReason))
		g.Expect(got.Status.Keys).To(BeEmpty())
	}, timeout, interval).Should(Succeed())
}

// TestClientKeyWaitsForItsAPIKey: Ready=False naming the missing APIKey.
func TestClientKeyWaitsForItsAPIKey(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	_, pub := enrollPEM(g)
	sk := &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orphan"},
		Spec: keywardv1.SigningKeySpec{
			Mode: keywardv1.SigningKeyModeClient, Owner: "15a6",
			Client: &keywardv1.ClientKey{APIKeyName: "missing", PublicKey: pub},
		},
	}
	g.Expect(k8s.Create(ctx, sk)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(ctx, sk) })
	g.Eventually(func(g Gomega) {
		_, c := signingKeyReady(g, sk)
		g.Expect(c.Reason).To(Equal(keywardv1.APIKeyNotReadyReason))
		g.Expect(c.Message).To(ContainSubstring(`APIKey "missing" does not exist`))
	}, timeout, interval).Should(Succeed())
	g.Eventually(func(g Gomega) []string { return signingEvents(g, sk) }, timeout, interval).Should(ContainElement(keywardv1.APIKeyNotReadyReason))
}

// TestClientKeyFollowsItsAPIKeysState: a client key whose APIKey the
// verifier refuses (suspended, expired, revoked) is not Ready and says why, and
// is Ready again when the APIKey is resumed; the APIKey's change alone
// brings the SigningKey's reconcile.
func TestClientKeyFollowsItsAPIKeysState(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ak, sk := enrolledClientKey(t, g)
	t.Cleanup(func() { _ = k8s.Delete(ctx, sk) })
	readyAs := func(status metav1.ConditionStatus, reason, message string) {
		t.Helper()
		g.Eventually(func(g Gomega) {
			_, c := signingKeyReady(g, sk)
			g.Expect(c.Status).To(Equal(status))
			g.Expect(c.Reason).To(Equal(reason))
			g.Expect(c.Message).To(ContainSubstring(message))
		}, timeout, interval).Should(Succeed())
	}
	readyAs(metav1.ConditionTrue, keywardv1.SigningKeyReadyReason, "published")

	patchKey(g, ak, func(k *keywardv1.APIKey) { k.Spec.Suspended = true })
	readyAs(metav1.ConditionFalse, keywardv1.APIKeyNotReadyReason,
		`APIKey "assertions" is suspended (Suspended), so the verifier refuses this key's assertions.`)
	got, _ := signingKeyReady(g, sk)
	rec, _ := signingRecordOf(g, got.Status.KID)
	g.Expect(rec.KeyID).To(Equal(ak.Status.KeyID), "the record stays published, for the key to work again once resumed")

	patchKey(g, ak, func(k *keywardv1.APIKey) { k.Spec.Suspended = false })
	readyAs(metav1.ConditionTrue, keywardv1.SigningKeyReadyReason, "published")

	past := metav1.NewTime(apiKeyClock.Now().Add(-time.Minute).Truncate(time.Second))
	patchKey(g, ak, func(k *keywardv1.APIKey) { k.Spec.Expiration = &keywardv1.Expiration{At: &past} })
	readyAs(metav1.ConditionFalse, keywardv1.APIKeyNotReadyReason,
		`APIKey "assertions" is expired (Expired), so the verifier refuses this key's assertions.`)

	patchKey(g, ak, func(k *keywardv1.APIKey) { k.Spec.Revoked = true })
	readyAs(metav1.ConditionFalse, keywardv1.APIKeyNotReadyReason,
		`APIKey "assertions" is revoked (Revoked), so the verifier refuses this key's assertions.`)
	g.Eventually(func(g Gomega) []string { return signingEvents(g, sk) }, timeout, interval).Should(ContainElement(keywardv1.APIKeyNotReadyReason))
}

// TestSigningKeySchemaRules: the API server refuses what CEL forbids,
// naming the rule.
func TestSigningKeySchemaRules(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	tests := map[string]struct {
		spec keywardv1.SigningKeySpec
		msg  string
	}{
		"issuer without issuer settings": {keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeIssuer}, "an Issuer key takes spec.issuer"},
		"client without owner": {keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeClient,
			Client: &keywardv1.ClientKey{APIKeyName: "a", PublicKey: "x"}}, "a Client key needs spec.owner"},
		"rsaBits with ES256": {keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeIssuer,
			Issuer: &keywardv1.IssuerKey{Algorithm: keywardv1.ES256, RSABits: ptr.To[int32](2048)}}, "rsaBits applies to RS256 only"},
		"evict on an issuer": {keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeIssuer, Issuer: &keywardv1.IssuerKey{}, Evict: "1"}, "evict applies to Client keys only"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := k8s.Create(ctx, &keywardv1.SigningKey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad"}, Spec: tc.spec})
			g.Expect(err).To(MatchError(ContainSubstring(tc.msg)))
		})
	}
}

func mustMarshal(g Gomega, v any) []byte {
	b, err := json.Marshal(v)
	g.Expect(err).NotTo(HaveOccurred())
	return b
}

// signingKeyReady reads sk as the API server holds it, with its Ready
// condition, which must be set.
func signingKeyReady(g Gomega, sk *keywardv1.SigningKey) (*keywardv1.SigningKey, *metav1.Condition) {
	got := &keywardv1.SigningKey{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(sk), got)).To(Succeed())
	c := meta.FindStatusCondition(got.Status.Conditions, keywardv1.ReadyCondition)
	g.Expect(c).NotTo(BeNil())
	return got, c
}
