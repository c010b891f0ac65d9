package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/leak"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/verifier"
)

const leakedAt = "https://github.com/acme/app/blob/0123abc/deploy/.env"

type feedback struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// reportLeak posts a report to the verifier's public port as GitHub does,
// signed by the reporter's key id, and returns the status and feedback.
func reportLeak(g Gomega, id, signature string, body []byte) (int, []feedback, string) {
	req, err := http.NewRequest(http.MethodPost, publicURL+verifier.GitHubLeaksPath, bytes.NewReader(body))
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set(verifier.HeaderGitHubKeyID, id)
	req.Header.Set(verifier.HeaderGitHubSignature, signature)
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	var fb []feedback
	if resp.StatusCode == http.StatusOK {
		g.Expect(json.Unmarshal(buf.Bytes(), &fb)).To(Succeed())
	}
	return resp.StatusCode, fb, buf.String()
}

func signedReport(g Gomega, tokens ...string) (int, []feedback) {
	body := testutil.LeakReport(leakedAt, tokens...)
	code, fb, _ := reportLeak(g, "key-1", leakReporter.Sign("key-1", body), body)
	return code, fb
}

func labels(fb []feedback) []string {
	var out []string
	for _, f := range fb {
		out = append(out, f.Label)
	}
	return out
}

func liveKey(t *testing.T, g *WithT, ns, name string) (string, *keywardv1.APIKey) {
	t.Helper()
	plain := applyKey(t, g, ns, name, keywardv1.APIKeySpec{Owner: "15a6", Scopes: []keywardv1.Scope{"acme/payments/investigations:read"}})
	expectDecision(g, plain, verifier.ReasonAllowed, waitFor)
	var k *keywardv1.APIKey
	g.Eventually(func(g Gomega) {
		k = getKey(g, ns, name)
		g.Expect(k.Status.KeyID).NotTo(BeEmpty())
	}).WithTimeout(waitFor).Should(Succeed())
	return plain, k
}

func getKey(g Gomega, ns, name string) *keywardv1.APIKey {
	k := &keywardv1.APIKey{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, k)).To(Succeed())
	return k
}

func expectDecision(g *WithT, key string, want verifier.Reason, within time.Duration) {
	g.Eventually(func(g Gomega) {
		_, reason := endpoints[0].send(g, key, "GET", "/acme/payments/investigations/INV-7", nil)
		g.Expect(reason).To(Equal(string(want)))
	}).WithTimeout(within).WithPolling(20 * time.Millisecond).Should(Succeed())
}

func eventReasons(g Gomega, ns string) []string {
	var list corev1.EventList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason)
	}
	return out
}

func publishedRecord(g Gomega, keyID string) record.Record {
	sec := &corev1.Secret{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: verifierNamespace, Name: record.SecretName(keyID)}, sec)).To(Succeed())
	rec, err := record.Decode(sec.Data[record.DataKey])
	g.Expect(err).NotTo(HaveOccurred())
	return rec
}

func leakConfigMaps(g Gomega, keyID string) []corev1.ConfigMap {
	var list corev1.ConfigMapList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(verifierNamespace),
		client.MatchingLabels{leak.Label: "true", record.KeyIDLabel: keyID})).To(Succeed())
	return list.Items
}

// settled waits until the manager has reconciled the key's current spec.
func settled(g *WithT, ns, name string) *keywardv1.APIKey {
	var k *keywardv1.APIKey
	// Reconciled, and no write for half a second: a busy manager may
	// still be writing status after observedGeneration caught up, and
	// callers compare later reads with this one.
	var lastVersion string
	var unchangedSince time.Time
	g.Eventually(func(g Gomega) {
		k = getKey(g, ns, name)
		g.Expect(k.Status.ObservedGeneration).To(Equal(k.Generation))
		if k.ResourceVersion != lastVersion {
			lastVersion, unchangedSince = k.ResourceVersion, time.Now()
		}
		g.Expect(time.Since(unchangedSince)).To(BeNumerically(">=", 500*time.Millisecond), "status is still being written")
	}).WithTimeout(waitFor).Should(Succeed())
	return k
}

func TestALeakedKeyIsDeniedWithinASecondAndRevoked(t *testing.T) {
	g := NewWithT(t)
	g.Eventually(watch.Ready).WithTimeout(waitFor).Should(BeTrue())
	ns := newNamespace(t, g)
	plain, key := liveKey(t, g, ns, "leaky")

	reported := time.Now()
	code, fb := signedReport(g, plain)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(fb).To(Equal([]feedback{{TokenHash: sha256Hex(plain), TokenType: "keyward_api_key", Label: "true_positive"}}))
	expectDecision(g, plain, verifier.ReasonRevoked, time.Second)
	t.Logf("the key was denied %v after the report was sent", time.Since(reported).Round(time.Millisecond))

	var leaked *keywardv1.APIKey
	g.Eventually(func(g Gomega) {
		leaked = getKey(g, ns, "leaky")
		g.Expect(leaked.Status.Leak).NotTo(BeNil())
		ready := meta.FindStatusCondition(leaked.Status.Conditions, keywardv1.ReadyCondition)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(keywardv1.LeakedReason))
		g.Expect(publishedRecord(g, key.Status.KeyID).State).To(Equal(record.Revoked))
	}).WithTimeout(waitFor).Should(Succeed())
	t.Logf("the manager revoked the key's record %v after the report was sent", time.Since(reported).Round(time.Millisecond))
	g.Expect(leaked.Status.Leak.URL).To(Equal(leakedAt))
	g.Expect(leaked.Status.Leak.Source).To(Equal("content"))
	g.Expect(leaked.Status.Leak.Action).To(Equal(keywardv1.LeakActionRevoke))
	g.Expect(leaked.Status.RevokedTime).NotTo(BeNil())
	g.Expect(meta.IsStatusConditionTrue(leaked.Status.Conditions, keywardv1.RevokedCondition)).To(BeTrue())
	g.Eventually(func(g Gomega) {
		g.Expect(eventReasons(g, ns)).To(ContainElement(keywardv1.KeyLeakedReason))
		g.Expect(managerTrail.String()).To(ContainSubstring(`"action":"leaked","keyID":"` + key.Status.KeyID + `"`))
		g.Expect(cloudEvents.About(key.Status.Prefix)).To(ContainElement(SatisfyAll(
			HaveKeyWithValue("type", "dev.keyward.apikey.leaked"),
			HaveKeyWithValue("data", HaveKeyWithValue("url", leakedAt)),
		)))
		g.Expect(getKey(g, ns, "leaky").Status.Leak.NotifiedTime).NotTo(BeNil())
	}).WithTimeout(waitFor).Should(Succeed())
	g.Expect(managerTrail.String() + trail.String()).NotTo(ContainSubstring(plain))
	g.Expect(leakConfigMaps(g, key.Status.KeyID)[0].Data[leak.DataKey]).NotTo(ContainSubstring(plain))

	// Replayed: the same answer, and nothing happens twice.
	code, again := signedReport(g, plain)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(again).To(Equal(fb))
	g.Expect(leakConfigMaps(g, key.Status.KeyID)).To(HaveLen(1))

	// The tenant tries to bring the key back through its spec.
	patchSpec(g, ns, "leaky", `{"spec":{"revoked":false,"suspended":false,"description":"not leaked, honest","rotation":{"trigger":"please"}}}`)
	after := settled(g, ns, "leaky")
	g.Expect(meta.FindStatusCondition(after.Status.Conditions, keywardv1.ReadyCondition).Reason).To(Equal(keywardv1.LeakedReason))
	g.Expect(after.Status.Leak.ReportedTime).To(Equal(leaked.Status.Leak.ReportedTime))
	g.Expect(publishedRecord(g, key.Status.KeyID).State).To(Equal(record.Revoked))
	expectDecision(g, plain, verifier.ReasonRevoked, time.Second)
	g.Expect(countOf(eventReasons(g, ns), keywardv1.KeyLeakedReason)).To(Equal(1))
	g.Expect(cloudEvents.About(key.Status.Prefix)).To(HaveLen(1))
	g.Expect(strings.Count(managerTrail.String(), `"action":"leaked","keyID":"`+key.Status.KeyID+`"`)).To(Equal(1))
}

func countOf(list []string, s string) int {
	n := 0
	for _, e := range list {
		if e == s {
			n++
		}
	}
	return n
}

// Reports that must change nothing: not signed by the configured key set,
// signed but naming a key with a wrong checksum or a made-up secret (the
// attacker published a victim's key ID with a secret of their own), and a
// key that was revoked before.
func TestLeakReportsThatChangeNothing(t *testing.T) {
	g := NewWithT(t)
	g.Eventually(watch.Ready).WithTimeout(waitFor).Should(BeTrue())
	ns := newNamespace(t, g)
	plain, key := liveKey(t, g, ns, "victim")
	revokedPlain, _ := liveKey(t, g, ns, "revoked")
	patchSpec(g, ns, "revoked", `{"spec":{"revoked":true}}`)
	expectDecision(g, revokedPlain, verifier.ReasonRevoked, waitFor)
	revoked := settled(g, ns, "revoked")
	before := settled(g, ns, "victim")
	recordBefore := publishedRecord(g, key.Status.KeyID)
	tombstoneBefore := publishedRecord(g, revoked.Status.KeyID)
	g.Expect(tombstoneBefore.State).To(Equal(record.Revoked))

	body := testutil.LeakReport(leakedAt, plain)
	stranger := testutil.NewLeakReporter()
	defer stranger.Close()
	code, _, msg := reportLeak(g, "key-1", stranger.Sign("key-1", body), body)
	g.Expect(code).To(Equal(http.StatusUnauthorized))
	g.Expect(msg).To(ContainSubstring("does not verify"))
	code, _, msg = reportLeak(g, "no-such-key", stranger.Sign("key-1", body), body)
	g.Expect(code).To(Equal(http.StatusUnauthorized))
	g.Expect(msg).To(ContainSubstring("names no key of the configured public key set"))

	forged, err := keys.Generate(key.Status.KeyID)
	g.Expect(err).NotTo(HaveOccurred())
	badSum := plain[:len(plain)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(plain, "A")]
	code, fb := signedReport(g, forged.Plaintext(), badSum, revokedPlain)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(labels(fb)).To(Equal([]string{"false_positive", "false_positive", "false_positive"}))

	expectDecision(g, plain, verifier.ReasonAllowed, time.Second)
	for _, k := range []*keywardv1.APIKey{before, revoked} {
		g.Expect(leakConfigMaps(g, k.Status.KeyID)).To(BeEmpty())
	}
	g.Expect(publishedRecord(g, key.Status.KeyID).Version).To(Equal(recordBefore.Version))
	g.Expect(publishedRecord(g, revoked.Status.KeyID).Version).To(Equal(tombstoneBefore.Version))
	g.Consistently(func(g Gomega) {
		for _, k := range []*keywardv1.APIKey{before, revoked} {
			now := getKey(g, ns, k.Name)
			g.Expect(now.Status.Leak).To(BeNil())
			g.Expect(now.Status.Conditions).To(Equal(k.Status.Conditions))
		}
		g.Expect(eventReasons(g, ns)).NotTo(ContainElement(keywardv1.KeyLeakedReason))
	}).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
}

// With a KeyPolicy saying Suspend, a leaked key is denied until it is
// rotated; the rotation's new secret works at once and the leaked one
// never again, without a grace period.
func TestALeakedKeySuspendedByPolicyComesBackOnlyByRotation(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	g.Eventually(watch.Ready).WithTimeout(waitFor).Should(BeTrue())
	ns := suspendingNamespace(t, g)
	plain, key := liveKey(t, g, ns, "rotatable")

	code, fb := signedReport(g, plain)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(labels(fb)).To(Equal([]string{"true_positive"}))
	g.Eventually(func(g Gomega) {
		k := getKey(g, ns, "rotatable")
		g.Expect(k.Status.Leak).NotTo(BeNil())
		g.Expect(k.Status.Leak.Action).To(Equal(keywardv1.LeakActionSuspend))
		g.Expect(meta.FindStatusCondition(k.Status.Conditions, keywardv1.ReadyCondition).Reason).To(Equal(keywardv1.LeakedReason))
		g.Expect(publishedRecord(g, key.Status.KeyID).State).To(Equal(record.Suspended))
	}).WithTimeout(waitFor).Should(Succeed())
	g.Eventually(func(g Gomega) {
		_, reason := endpoints[0].send(g, plain, "GET", "/acme/payments/investigations/INV-7", nil)
		// Revoked by this replica's own denial of the leaked secret,
		// suspended once the manager's record arrives.
		g.Expect(reason).To(BeElementOf(string(verifier.ReasonRevoked), string(verifier.ReasonSuspended)))
	}).WithTimeout(time.Second).Should(Succeed())

	// Resuming through spec does not lift it.
	patchSpec(g, ns, "rotatable", `{"spec":{"suspended":false,"description":"resume please"}}`)
	k := settled(g, ns, "rotatable")
	g.Expect(meta.FindStatusCondition(k.Status.Conditions, keywardv1.ReadyCondition).Reason).To(Equal(keywardv1.LeakedReason))
	g.Expect(publishedRecord(g, key.Status.KeyID).State).To(Equal(record.Suspended))

	// A rotation does, and the leaked secret gets no grace period.
	patchSpec(g, ns, "rotatable", `{"spec":{"rotation":{"trigger":"leaked"}}}`)
	var fresh string
	g.Eventually(func(g Gomega) {
		k := getKey(g, ns, "rotatable")
		g.Expect(meta.IsStatusConditionTrue(k.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue())
		g.Expect(k.Status.PreviousSecretValidUntil).To(BeNil())
		sec := &corev1.Secret{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rotatable"}, sec)).To(Succeed())
		fresh = string(sec.Data["key"])
		g.Expect(fresh).NotTo(Equal(plain))
		g.Expect(sec.Data).NotTo(HaveKey("previousKey"))
		rec := publishedRecord(g, key.Status.KeyID)
		g.Expect(rec.State).To(Equal(record.Active))
		g.Expect(rec.Secrets).To(HaveLen(1))
		// Tokens minted with the leaked secret before the report stay
		// invalid after the rotation.
		g.Expect(rec.TokensNotBefore).NotTo(BeNil())
		g.Expect(*rec.TokensNotBefore).To(BeTemporally("~", k.Status.Leak.ReportedTime.Time, time.Second))
	}).WithTimeout(waitFor).Should(Succeed())
	expectDecision(g, fresh, verifier.ReasonAllowed, waitFor)
	_, reason := endpoints[0].send(g, plain, "GET", "/acme/payments/investigations/INV-7", nil)
	g.Expect(reason).To(BeElementOf(string(verifier.ReasonRevoked), string(verifier.ReasonInvalidSecret)))
	g.Expect(countOf(eventReasons(g, ns), keywardv1.KeyLeakedReason)).To(Equal(1))
}

// suspendingNamespace is a new namespace whose KeyPolicy suspends leaked
// keys.
func suspendingNamespace(t *testing.T, g *WithT) string {
	t.Helper()
	ctx := context.Background()
	ns := newNamespace(t, g)
	nsObj := &corev1.Namespace{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
	nsObj.Labels = map[string]string{"leak-policy": ns}
	g.Expect(k8s.Update(ctx, nsObj)).To(Succeed())
	policy := &keywardv1.KeyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "leaks-suspend-" + ns},
		Spec: keywardv1.KeyPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"leak-policy": ns}},
			LeakedKeys:        keywardv1.LeakedKeySuspend,
		},
	}
	g.Expect(k8s.Create(ctx, policy)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(ctx, policy) })
	return ns
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
