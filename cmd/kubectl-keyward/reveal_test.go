package main

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/controllers"
)

func TestRevealReadsWhatTheManagerWrites(t *testing.T) {
	g := NewWithT(t)
	g.Expect(deliveryRevealedField).To(Equal(controllers.DeliveryRevealedField))
	g.Expect(deliveryRevealedAtField).To(Equal(controllers.DeliveryRevealedAtField))
	g.Expect(generationAnnotation).To(Equal(controllers.GenerationAnnotation))
	g.Expect(serialAnnotation).To(Equal(controllers.SerialAnnotation))
}

func revealOnce(k *keywardv1.APIKey) { k.Spec.Delivery = &keywardv1.Delivery{RevealOnce: true} }

func deliverySecretOf(t *testing.T, k *keywardv1.APIKey) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	NewWithT(t).Expect(admin.Get(context.Background(), keyOf(k.Namespace, k.Status.SecretName), &s)).To(Succeed())
	return &s
}

func TestRevealPrintsAKeyShownOnceExactlyOnce(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	user := tenant(t, "reveal-user", ns)
	k := readyKey(t, ns, "shown-once", "alice", revealOnce)
	want := deliveredKey(t, k)
	serial := deliverySecretOf(t, k).Annotations[serialAnnotation]

	res := plugin(user, "", "reveal", k.Status.Prefix, "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(Equal(want+"\n"), "stdout holds the key and nothing else")
	g.Expect(res.stderr).To(ContainSubstring("no longer holds it"))
	g.Expect(res.stderr).NotTo(ContainSubstring(want))

	sec := deliverySecretOf(t, k)
	g.Expect(sec.Data).NotTo(HaveKey(deliveryKeyField))
	g.Expect(string(sec.Data[deliveryRevealedField])).To(Equal("true"))
	g.Expect(serial).NotTo(BeEmpty())
	g.Expect(getKey(t, ns, "shown-once").Annotations).To(HaveKeyWithValue(keywardv1.RevealedAnnotation, serial), "the request names the secret printed")

	again := plugin(user, "", "reveal", "shown-once", "-n", ns)
	g.Expect(again.code).To(Equal(1))
	g.Expect(again.stdout).To(BeEmpty())
	g.Expect(again.stderr).To(ContainSubstring("apikey/shown-once was already revealed"))
	g.Expect(again.stderr).To(ContainSubstring("kubectl keyward rotate shown-once"))
}

func TestRevealAfterARotationShowsTheNewKeyOnce(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	k := readyKey(t, ns, "rotated", "alice", revealOnce)
	first := asAdmin("reveal", "rotated", "-n", ns)
	g.Expect(first.code).To(Equal(0), first.stderr)

	rot := asAdmin("rotate", "rotated", "-n", ns, "--yes")
	g.Expect(rot.code).To(Equal(0), rot.stderr)
	g.Eventually(func(g Gomega) {
		g.Expect(getKey(t, ns, "rotated").Status.SecretGeneration).To(Equal(int64(2)))
	}, waitFor).Should(Succeed())
	serial := deliverySecretOf(t, k).Annotations[serialAnnotation]
	second := asAdmin("reveal", "rotated", "-n", ns)
	g.Expect(second.code).To(Equal(0), second.stderr)
	g.Expect(second.stdout).NotTo(Equal(first.stdout))
	g.Expect(strings.TrimSpace(second.stdout)).To(HavePrefix("keyward_" + k.Status.KeyID + "_"))
	g.Expect(getKey(t, ns, "rotated").Annotations).To(HaveKeyWithValue(keywardv1.RevealedAnnotation, serial))
	g.Expect(deliverySecretOf(t, k).Data).NotTo(HaveKey(deliveryKeyField))
}

func TestRevealOfAnOrdinaryKeyLeavesIt(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	k := readyKey(t, ns, "ordinary", "alice")
	want := deliveredKey(t, k)
	res := asAdmin("reveal", "ordinary", "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(Equal(want + "\n"))
	g.Expect(res.stderr).To(ContainSubstring("stays readable"))
	g.Expect(deliveredKey(t, k)).To(Equal(want))
	g.Expect(getKey(t, ns, "ordinary").Annotations).NotTo(HaveKey(keywardv1.RevealedAnnotation))
}

func TestRevealRefusals(t *testing.T) {
	ns := namespace(t, nil)
	other := namespace(t, nil)
	readyKey(t, other, "elsewhere", "alice", revealOnce)
	revoked := readyKey(t, ns, "revoked", "alice", revealOnce)
	g := NewWithT(t)
	g.Expect(asAdmin("revoke", revoked.Name, "-n", ns, "--yes").code).To(Equal(0))
	for _, tc := range []struct{ name, arg, want string }{
		{"revoked", "revoked", "apikey/revoked is revoked: there is no key to reveal"},
		{"another namespace's key", "elsewhere", `not found`},
		{"unknown prefix", "alice/aaaaaaaaaaaaaaaa", `not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			res := asAdmin("reveal", tc.arg, "-n", ns)
			g.Expect(res.code).To(Equal(1))
			g.Expect(res.stdout).To(BeEmpty())
			g.Expect(res.stderr).To(ContainSubstring(tc.want))
		})
	}
}

func TestCreateWithRevealOnceIsTheOneReveal(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	res := asAdmin("create", "once", "-n", ns, "--owner", "alice", "--scope", "acme/payments/invoices:read", "--reveal-once")
	g.Expect(res.code).To(Equal(0), res.stderr)
	k := getKey(t, ns, "once")
	g.Expect(k.RevealOnce()).To(BeTrue())
	g.Expect(strings.TrimSpace(res.stdout)).To(HavePrefix("keyward_" + k.Status.KeyID + "_"))
	g.Expect(res.stderr).To(ContainSubstring("no longer holds it"))
	g.Expect(deliverySecretOf(t, k).Data).NotTo(HaveKey(deliveryKeyField))

	var described result
	g.Eventually(func(g Gomega) {
		described = asAdmin("describe", "once", "-n", ns)
		g.Expect(described.code).To(Equal(0), described.stderr)
		g.Expect(described.stdout).To(ContainSubstring(`Secret "once" holds only the key ID: the key was shown once, at`))
		g.Expect(described.stdout).To(ContainSubstring(`Snippets:`))
		g.Expect(described.stdout).To(ContainSubstring(`ConfigMap "once-snippets" (kubectl keyward snippet once --lang curl|go|python|js|envoy|traefik|nginx)`))
	}, waitFor).Should(Succeed())
	g.Expect(described.stdout).NotTo(ContainSubstring(strings.TrimSpace(res.stdout)))
}

// An imported key of another format is delivered, and revealed, as it is.
func TestRevealPrintsAnImportedForeignKeyOnce(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	user := tenant(t, "reveal-foreign", ns)
	const foreign = "sk_live_RevealedForeignKeyOfTheOldSystem"
	g.Expect(admin.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy"},
		Type:       keywardv1.ImportSecretType,
		Data:       map[string][]byte{keywardv1.ImportSecretDefaultKey: []byte(foreign)},
	})).To(Succeed())
	k := readyKey(t, ns, "foreign", "alice", revealOnce, func(k *keywardv1.APIKey) {
		k.Spec.Import = &keywardv1.KeyImport{SecretRef: &keywardv1.ImportSecretReference{Name: "legacy"}}
	})

	res := plugin(user, "", "reveal", k.Status.Prefix, "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(Equal(foreign + "\n"))
	g.Expect(res.stderr).To(ContainSubstring("no longer holds it"))
	g.Expect(deliverySecretOf(t, k).Data).NotTo(HaveKey(deliveryKeyField))
}
