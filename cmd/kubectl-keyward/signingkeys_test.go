package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// clientKey enrolls a P-256 public key for the APIKey apiKey of owner.
func clientKey(t *testing.T, ns, name, owner, apiKey string) *keywardv1.SigningKey {
	t.Helper()
	g := NewWithT(t)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	g.Expect(err).NotTo(HaveOccurred())
	k := &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: keywardv1.SigningKeySpec{
			Mode: keywardv1.SigningKeyModeClient, Owner: owner,
			Client: &keywardv1.ClientKey{APIKeyName: apiKey, PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
		},
	}
	g.Expect(admin.Create(context.Background(), k)).To(Succeed())
	return k
}

func assertingKey(k *keywardv1.APIKey) {
	k.Spec.AuthMethods = []keywardv1.AuthMethod{keywardv1.AuthMethodClientAssertion}
}

func TestKeysListsOneOwnersClientKeys(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	readyKey(t, ns, "alice-app", "alice", assertingKey)
	readyKey(t, ns, "bob-app", "bob", assertingKey)
	clientKey(t, ns, "alice-laptop", "alice", "alice-app")
	clientKey(t, ns, "alice-phone", "alice", "alice-app")
	clientKey(t, ns, "bob-laptop", "bob", "bob-app")

	res := asAdmin("keys", "--owner", "alice", "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	g.Expect(strings.Fields(lines[0])).To(Equal([]string{"NAME", "OWNER", "APIKEY", "KID", "READY", "LAST-EVICTION", "AGE"}))
	g.Expect(lines).To(HaveLen(3))
	g.Expect(lines[1]).To(HavePrefix("alice-laptop"))
	g.Expect(lines[2]).To(HavePrefix("alice-phone"))
	g.Expect(res.stdout).NotTo(ContainSubstring("bob"))

	res = asAdmin("keys", "--owner", "nobody", "-n", ns)
	g.Expect(res.code).To(Equal(0))
	g.Expect(res.stdout).To(BeEmpty())
	g.Expect(res.stderr).To(ContainSubstring(`no client SigningKeys of owner "nobody"`))

	res = asAdmin("keys", "-n", ns)
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring(`"owner" not set`))
}

func TestEvictPassesAnEvictionToTheVerifier(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	readyKey(t, ns, "alice-app", "alice", assertingKey)
	clientKey(t, ns, "alice-laptop", "alice", "alice-app")
	var enrolled keywardv1.SigningKey
	g.Eventually(func() string {
		g.Expect(admin.Get(context.Background(), keyOf(ns, "alice-laptop"), &enrolled)).To(Succeed())
		return enrolled.Status.Eviction
	}, waitFor).ShouldNot(BeEmpty())

	res := asAdmin("evict", "alice-laptop", "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stderr).To(ContainSubstring("signingkey/alice-laptop evicted"))
	var k keywardv1.SigningKey
	g.Expect(admin.Get(context.Background(), keyOf(ns, "alice-laptop"), &k)).To(Succeed())
	g.Expect(k.Annotations).To(HaveKey(keywardv1.EvictAnnotation))
	g.Expect(k.Status.Eviction).To(Equal(k.EvictionRequest()))
	g.Expect(k.Status.LastEvictionTime).NotTo(BeNil())
	g.Expect(managers(&k)).To(ContainElement(FieldManager))
}

func TestEvictRefusesWhatIsNotAnEnrolledClientKey(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	issuer := &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tokens"},
		Spec:       keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeIssuer, Issuer: &keywardv1.IssuerKey{}},
	}
	g.Expect(admin.Create(context.Background(), issuer)).To(Succeed())

	res := asAdmin("evict", "tokens", "-n", ns)
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring("signingkey/tokens is an Issuer key: only Client keys have verifier state to evict"))
	g.Expect(admin.Get(context.Background(), keyOf(ns, "tokens"), issuer)).To(Succeed())
	g.Expect(issuer.Annotations).NotTo(HaveKey(keywardv1.EvictAnnotation))

	// Enrolled for an APIKey that does not exist: never published.
	clientKey(t, ns, "orphan", "alice", "no-such-key")
	res = asAdmin("evict", "orphan", "-n", ns)
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring("signingkey/orphan is not enrolled yet"))
	var orphan keywardv1.SigningKey
	g.Expect(admin.Get(context.Background(), keyOf(ns, "orphan"), &orphan)).To(Succeed())
	g.Expect(orphan.Annotations).NotTo(HaveKey(keywardv1.EvictAnnotation))

	res = asAdmin("evict", "nothing-here", "-n", ns)
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring(`"nothing-here" not found`))
}
