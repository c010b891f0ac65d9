package controllers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
)

// Invariant 1: a plaintext key exists only in its delivery Secret. This test
// drives a key through its whole life with every log level on, then searches
// logs, Events, the APIKey (spec and status), every key record and the
// metrics for every secret it ever delivered.
func TestNoPlaintextOutsideTheDeliverySecret(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "audited"))
	seen := []keys.Key{deliveredPlaintext(g, key)}

	patch := client.MergeFrom(key.DeepCopy())
	key.Spec.Scopes = []keywardv1.Scope{"acme/payments/users:read"}
	g.Expect(k8s.Patch(ctx, key, patch)).To(Succeed())
	g.Expect(k8s.Delete(ctx, deliverySecret(g, key))).To(Succeed())
	g.Eventually(func(g Gomega) {
		k := deliveredPlaintext(g, key)
		g.Expect(k.Equal(seen[0])).To(BeFalse())
		seen = append(seen, k)
	}).WithTimeout(timeout).Should(Succeed())
	waitFor(g, key, keywardv1.KeyReadyReason)

	// A rotation puts keys in nextKey and previousKey on the way.
	patchKey(g, key, func(k *keywardv1.APIKey) {
		k.Spec.Rotation = &keywardv1.Rotation{Trigger: "now"}
	})
	g.Eventually(func(g Gomega) {
		k := deliveredPlaintext(g, key)
		g.Expect(k.Equal(seen[1])).To(BeFalse())
		seen = append(seen, k)
	}).WithTimeout(timeout).Should(Succeed())
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(key), key)).To(Succeed())

	patch = client.MergeFrom(key.DeepCopy())
	key.Spec.Revoked = true
	g.Expect(k8s.Patch(ctx, key, patch)).To(Succeed())
	revoked := waitFor(g, key, keywardv1.RevokedReason)

	// Everything a person or a tool could read, other than the Secret.
	var haystack strings.Builder
	haystack.WriteString(logs.String())
	haystack.WriteString(auditLines.String())
	for _, ev := range sink.About(revokedPrefix(key)) {
		haystack.WriteString(ev["_raw"].(string))
	}
	apikeyJSON, _ := json.Marshal(revoked)
	haystack.Write(apikeyJSON)
	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, key)).To(HaveKey(keywardv1.RevokedReason))
	}).WithTimeout(timeout).Should(Succeed())
	events := &corev1.EventList{}
	g.Expect(k8s.List(ctx, events, client.InNamespace(ns))).To(Succeed())
	eventsJSON, _ := json.Marshal(events)
	haystack.Write(eventsJSON)
	records := &corev1.SecretList{}
	g.Expect(k8s.List(ctx, records, client.InNamespace(verifierNamespace))).To(Succeed())
	g.Expect(records.Items).NotTo(BeEmpty())
	recordsJSON, _ := json.Marshal(records)
	haystack.Write(recordsJSON)
	families, err := metrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		_, _ = expfmt.MetricFamilyToText(&haystack, f)
	}

	g.Expect(logs.String()).To(ContainSubstring(seen[0].ID()), "the logs did capture this key's lifecycle")
	g.Expect(haystack.Len()).To(BeNumerically(">", 10_000))
	for _, k := range seen {
		p := k.Plaintext()
		secret := p[len(keys.Prefix)+keys.IDLength+1:]
		for _, needle := range []string{p, secret, base64.StdEncoding.EncodeToString([]byte(p))} {
			h := haystack.String()
			if i := strings.Index(h, needle); i >= 0 {
				t.Logf("context: %q", h[max(0, i-2500):i])
			}
			g.Expect(strings.Contains(h, needle)).To(BeFalse(), "plaintext of key %s found", k.ID())
		}
	}
}

func revokedPrefix(key *keywardv1.APIKey) string { return key.Spec.Owner + "/" + key.Status.KeyID }
