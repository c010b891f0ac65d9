package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/record"
)

func boundToCertificate(cc keywardv1.ClientCertificate, methods ...keywardv1.AuthMethod) func(*keywardv1.APIKey) {
	return func(k *keywardv1.APIKey) {
		k.Spec.AuthMethods = append([]keywardv1.AuthMethod{keywardv1.AuthMethodMutualTLS}, methods...)
		k.Spec.ClientCertificate = &cc
	}
}

// The record is where the verifier learns which certificates a key
// accepts: it carries the binding as the spec says it, follows every
// change of it, and drops it with the method.
func TestAKeysRecordCarriesItsCertificateBinding(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	spiffe := "spiffe://example.org/ns/payments/sa/reporter"
	key := newAPIKey(ns, "reporter", boundToCertificate(keywardv1.ClientCertificate{URI: spiffe, Authority: "mesh"}, keywardv1.AuthMethodAPIKey))
	deleteAtEnd(t, key)
	got := createReady(g, key)
	keyID := got.Status.KeyID

	rec := recordFor(g, keyID)
	g.Expect(rec.AuthMethods).To(Equal([]string{record.AuthMutualTLS, record.AuthAPIKey}))
	g.Expect(rec.ClientCertificate).To(HaveValue(Equal(certbind.Binding{URI: spiffe, Authority: "mesh", Credential: certbind.CertificateOnly})),
		"the API server's default credential is written out, so the verifier never guesses")
	g.Expect(rec.APIKey).To(Equal(record.APIKeyRef{UID: string(got.UID), Namespace: ns, Name: "reporter"}), "the binding belongs to this one key")

	// Renewing a pinned certificate means a new thumbprint: the record follows.
	thumbprint := certbind.Thumbprint([]byte("the renewed certificate"))
	patchKey(g, key, func(k *keywardv1.APIKey) {
		k.Spec.ClientCertificate = &keywardv1.ClientCertificate{Thumbprint: thumbprint, Credential: keywardv1.CredentialCertificateAndKey}
	})
	g.Eventually(func(g Gomega) {
		next := recordFor(g, keyID)
		g.Expect(next.ClientCertificate).To(HaveValue(Equal(certbind.Binding{Thumbprint: thumbprint, Credential: certbind.CertificateAndKey})))
		g.Expect(next.Version).To(BeNumerically(">", rec.Version))
		g.Expect(next.Secrets).To(Equal(rec.Secrets), "a new binding is no new secret")
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

	// Without the method, no binding: the certificate authenticates nothing.
	patchKey(g, key, func(k *keywardv1.APIKey) {
		k.Spec.AuthMethods, k.Spec.ClientCertificate = []keywardv1.AuthMethod{keywardv1.AuthMethodAPIKey}, nil
	})
	g.Eventually(func(g Gomega) {
		next := recordFor(g, keyID)
		g.Expect(next.ClientCertificate).To(BeNil())
		g.Expect(next.Allows(record.AuthMutualTLS)).To(BeFalse())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

// A revoked key's record denies whatever authenticates it; the binding
// stays in the tombstone, for audit, under a state that denies.
func TestRevokingAKeyBoundToACertificateDeniesIt(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := newAPIKey(ns, "pinned", boundToCertificate(keywardv1.ClientCertificate{Thumbprint: certbind.Thumbprint([]byte("pinned")), Authority: "partners"}))
	deleteAtEnd(t, key)
	keyID := createReady(g, key).Status.KeyID
	patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.Revoked = true })
	g.Eventually(func(g Gomega) {
		rec := recordFor(g, keyID)
		g.Expect(rec.State).To(Equal(record.Revoked))
		g.Expect(rec.Secrets).To(BeEmpty())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

// The API server refuses a key whose method and binding disagree, before
// any controller sees it, and the message says how to fix it.
func TestTheAPIServerRefusesMutualTLSWithoutABinding(t *testing.T) {
	ns := newNamespace(t)
	cases := map[string]struct {
		mutate func(*keywardv1.APIKey)
		want   string
	}{
		"MutualTLS without clientCertificate": {
			func(k *keywardv1.APIKey) { k.Spec.AuthMethods = []keywardv1.AuthMethod{keywardv1.AuthMethodMutualTLS} },
			"spec: Invalid value: clientCertificate is set exactly when authMethods contains MutualTLS: the MutualTLS method needs the certificate it accepts",
		},
		"clientCertificate without MutualTLS": {
			func(k *keywardv1.APIKey) {
				k.Spec.ClientCertificate = &keywardv1.ClientCertificate{Thumbprint: certbind.Thumbprint([]byte("x"))}
			},
			"a binding without the method would never be used",
		},
		"a name without authority": {
			boundToCertificate(keywardv1.ClientCertificate{Subject: "CN=reporter,O=Acme"}),
			"spec.clientCertificate: Invalid value: authority is required when binding by subject, dnsName, uri or email",
		},
		"an unknown credential": {
			boundToCertificate(keywardv1.ClientCertificate{Subject: "CN=reporter", Authority: "mesh", Credential: "Password"}),
			`spec.clientCertificate.credential: Unsupported value: "Password"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := k8s.Create(context.Background(), newAPIKey(ns, "refused", tc.mutate))
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}

// A policy that comes to require certificates from its authorities
// suspends (in Suspend mode) an existing key pinned to a self-signed
// certificate, and naming an allowed authority brings it back: the
// re-check reads bindings as admission does.
func TestAllowedAuthoritiesReachExistingKeys(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	team := fmt.Sprintf("mesh-%d", rand.Uint32())
	labelNamespace(t, ns, map[string]string{"team": team})
	pin := certbind.Thumbprint([]byte("self-signed"))
	key := newAPIKey(ns, "pinned", boundToCertificate(keywardv1.ClientCertificate{Thumbprint: pin}))
	deleteAtEnd(t, key)
	keyID := createReady(g, key).Status.KeyID

	p := &keywardv1.KeyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: team},
		Spec: keywardv1.KeyPolicySpec{
			NamespaceSelector:  metav1.LabelSelector{MatchLabels: map[string]string{"team": team}},
			AllowedAuthorities: []keywardv1.AuthorityName{"mesh"},
			Enforcement:        keywardv1.EnforcementSuspend,
		},
	}
	g.Expect(k8s.Create(ctx, p)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })

	got := waitFor(g, key, keywardv1.PolicyViolatedReason)
	c := meta.FindStatusCondition(got.Status.Conditions, keywardv1.PolicyViolationCondition)
	g.Expect(c).NotTo(BeNil())
	g.Expect(c.Message).To(HavePrefix(fmt.Sprintf(`spec.clientCertificate.authority: KeyPolicy %q requires a certificate issued by one of its authorities (mesh)`, team)))
	g.Expect(recordFor(g, keyID).State).To(Equal(record.Suspended))

	patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.ClientCertificate.Authority = "mesh" })
	waitFor(g, key, keywardv1.KeyReadyReason)
	rec := recordFor(g, keyID)
	g.Expect(rec.State).To(Equal(record.Active))
	g.Expect(rec.ClientCertificate.Authority).To(Equal("mesh"))
}
