package webhook

import (
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// policyNamespace makes a namespace governed by a fresh KeyPolicy: scopes
// within acme/payments, role "analyst", at most 90 days, write, delete
// and admin only with a source allowlist, and no client assertions.
func policyNamespace(t *testing.T) (ns, policyName string) {
	t.Helper()
	ns = namespaceWithLabels(t, map[string]string{"team": "payments"})
	policyName = "payments-" + ns
	createPolicy(t, policyName, ns, keywardv1.KeyPolicySpec{
		AllowedScopes: []keywardv1.Scope{"acme/payments/*:admin"},
		Roles: []keywardv1.Role{{Name: "analyst", Scopes: []keywardv1.Scope{
			"acme/payments/investigations:read", "acme/payments/evidence:read"}}},
		MaxLifetimeDays:        ptr.To[int32](90),
		SourceCIDRsRequiredFor: []keywardv1.Action{"write", "delete", "admin"},
		AllowedAuthMethods:     []keywardv1.AuthMethod{keywardv1.AuthMethodAPIKey, keywardv1.AuthMethodClientCredentials},
	})
	return ns, policyName
}

// createPolicy creates a KeyPolicy that selects namespace ns, deleted when
// the test ends, and waits until the validators' cache has it.
func createPolicy(t *testing.T, name, ns string, spec keywardv1.KeyPolicySpec) {
	t.Helper()
	g := NewWithT(t)
	spec.NamespaceSelector = metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
	p := &keywardv1.KeyPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	g.Expect(k8s.Create(context.Background(), p)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })
	g.Eventually(func() error {
		return cached.Get(context.Background(), client.ObjectKeyFromObject(p), &keywardv1.KeyPolicy{})
	}).Should(Succeed())
}

// refusal is an APIKey the webhook must refuse and the messages it must
// give, each naming a field.
type refusal struct {
	mutate func(*keywardv1.APIKey)
	want   []string
}

// expectRefused creates each key and checks it is refused with every
// message, and that nothing was written.
func expectRefused(t *testing.T, ns string, refused map[string]refusal) {
	t.Helper()
	ctx := context.Background()
	for name, tc := range refused {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			k := key(ns, "refused", tc.mutate)
			err := k8s.Create(ctx, k)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
			g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(k), &keywardv1.APIKey{}))).To(BeTrue(), "nothing half-written")
		})
	}
}

// expectAdmitted creates each key, under names of its own, and checks it is
// admitted.
func expectAdmitted(t *testing.T, ns string, admitted map[string]func(*keywardv1.APIKey)) {
	t.Helper()
	i := 0
	for name, mutate := range admitted {
		i++
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(k8s.Create(context.Background(), key(ns, fmt.Sprintf("ok-%d", i), mutate))).To(Succeed())
		})
	}
}

func key(ns, name string, mutate func(*keywardv1.APIKey)) *keywardv1.APIKey {
	k := &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: keywardv1.APIKeySpec{
			Owner:      "15a6",
			Scopes:     []keywardv1.Scope{"acme/payments/investigations:read"},
			Expiration: &keywardv1.Expiration{AfterDays: ptr.To[int32](30)},
		},
	}
	if mutate != nil {
		mutate(k)
	}
	return k
}

func TestAdmissionRefusesWhatPoliciesAndParentsForbid(t *testing.T) {
	ns, p := policyNamespace(t)
	ctx := context.Background()
	g := NewWithT(t)
	org := key(ns, "org", func(k *keywardv1.APIKey) {
		k.Spec.Scopes = []keywardv1.Scope{"acme/payments/investigations:admin"}
		k.Spec.Conditions = &keywardv1.AccessConditions{SourceCIDRs: []keywardv1.CIDR{"10.0.0.0/8"}}
		k.Spec.Expiration = &keywardv1.Expiration{AfterDays: ptr.To[int32](60)}
	})
	g.Expect(k8s.Create(ctx, org)).To(Succeed())
	child := func(mutate func(*keywardv1.APIKey)) func(*keywardv1.APIKey) {
		return func(k *keywardv1.APIKey) {
			k.Spec.Parent = &keywardv1.ParentReference{Name: "org"}
			k.Spec.Conditions = &keywardv1.AccessConditions{SourceCIDRs: []keywardv1.CIDR{"10.1.0.0/16"}}
			if mutate != nil {
				mutate(k)
			}
		}
	}

	refused := map[string]refusal{
		"a scope outside the policy": {
			func(k *keywardv1.APIKey) { k.Spec.Scopes = []keywardv1.Scope{"acme/hr/users:read"} },
			[]string{fmt.Sprintf(`spec.scopes[0]: Forbidden: scope "acme/hr/users:read" is not allowed by KeyPolicy %q (allowed: acme/payments/*:admin)`, p)},
		},
		"an unknown role": {
			func(k *keywardv1.APIKey) { k.Spec.Scopes, k.Spec.Role = nil, "auditor" },
			[]string{`spec.role: Forbidden: role "auditor" is not defined by any KeyPolicy that applies to this namespace (roles defined: analyst)`},
		},
		"a lifetime over the policy's": {
			func(k *keywardv1.APIKey) { k.Spec.Expiration.AfterDays = ptr.To[int32](365) },
			[]string{fmt.Sprintf(`spec.expiration: Forbidden: a lifetime of 365 days is longer than the 90 days KeyPolicy %q allows`, p)},
		},
		"no expiry": {
			func(k *keywardv1.APIKey) { k.Spec.Expiration = nil },
			[]string{fmt.Sprintf(`spec.expiration: Forbidden: KeyPolicy %q requires an expiry at most 90 days after creation`, p)},
		},
		"write without an allowlist": {
			func(k *keywardv1.APIKey) { k.Spec.Scopes = []keywardv1.Scope{"acme/payments/investigations:write"} },
			[]string{fmt.Sprintf(`spec.scopes[0]: Forbidden: scope "acme/payments/investigations:write" grants write, which KeyPolicy %q allows only with spec.conditions.sourceCIDRs`, p)},
		},
		"a child broader than its parent": {
			child(func(k *keywardv1.APIKey) { k.Spec.Scopes = []keywardv1.Scope{"acme/payments/evidence:read"} }),
			[]string{`spec.scopes[0]: Forbidden: scope "acme/payments/evidence:read" is broader than parent key "org" allows (parent scopes: acme/payments/investigations:admin)`},
		},
		"a child outliving its parent": {
			child(func(k *keywardv1.APIKey) { k.Spec.Expiration.AfterDays = ptr.To[int32](80) }),
			[]string{`spec.expiration: Forbidden: expiry`, `is later than parent key "org"'s`},
		},
		"a child with wider networks": {
			child(func(k *keywardv1.APIKey) {
				k.Spec.Conditions.SourceCIDRs = []keywardv1.CIDR{"192.168.0.0/16"}
			}),
			[]string{`spec.conditions.sourceCIDRs[0]: Forbidden: network 192.168.0.0/16 is not inside the networks of parent key "org" (10.0.0.0/8)`},
		},
		"an auth method outside the policy": {
			func(k *keywardv1.APIKey) {
				k.Spec.AuthMethods = []keywardv1.AuthMethod{keywardv1.AuthMethodClientAssertion}
			},
			[]string{fmt.Sprintf(`spec.authMethods[0]: Forbidden: auth method "ClientAssertion" is not allowed by KeyPolicy %q (allowed: APIKey, ClientCredentials)`, p)},
		},
		"a child with an auth method its parent lacks": {
			child(func(k *keywardv1.APIKey) {
				k.Spec.AuthMethods = []keywardv1.AuthMethod{keywardv1.AuthMethodClientCredentials}
			}),
			[]string{`spec.authMethods[0]: Forbidden: auth method "ClientCredentials" is not one parent key "org" may use (parent auth methods: APIKey)`},
		},
		"a missing parent": {
			func(k *keywardv1.APIKey) { k.Spec.Parent = &keywardv1.ParentReference{Name: "ghost"} },
			[]string{`spec.parent.name: Not found: "APIKey \"ghost\" (in namespace ` + ns + `)"`},
		},
		"several violations at once": {
			func(k *keywardv1.APIKey) {
				k.Spec.Scopes = []keywardv1.Scope{"acme/hr/users:read", "acme/payments/evidence:delete"}
				k.Spec.Expiration.AfterDays = ptr.To[int32](365)
			},
			[]string{`spec.scopes[0]: Forbidden: scope "acme/hr/users:read" is not allowed`, `spec.expiration: Forbidden: a lifetime of 365 days`,
				`spec.scopes[1]: Forbidden: scope "acme/payments/evidence:delete" grants delete`},
		},
	}
	expectRefused(t, ns, refused)

	admitted := map[string]func(*keywardv1.APIKey){
		"an in-policy key": func(k *keywardv1.APIKey) {},
		"a role":           func(k *keywardv1.APIKey) { k.Spec.Scopes, k.Spec.Role = nil, "analyst" },
		"tokens only": func(k *keywardv1.APIKey) {
			k.Spec.AuthMethods = []keywardv1.AuthMethod{keywardv1.AuthMethodClientCredentials}
		},
		"write with an allowlist": func(k *keywardv1.APIKey) {
			k.Spec.Scopes = []keywardv1.Scope{"acme/payments/investigations:write"}
			k.Spec.Conditions = &keywardv1.AccessConditions{SourceCIDRs: []keywardv1.CIDR{"10.0.0.0/8"}}
		},
		"a narrower child": child(nil),
	}
	expectAdmitted(t, ns, admitted)
}

func TestAdmissionRefusesACycleOfParents(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespaceWithLabels(t, nil)
	a := key(ns, "a", nil)
	g.Expect(k8s.Create(ctx, a)).To(Succeed())
	g.Expect(k8s.Create(ctx, key(ns, "b", func(k *keywardv1.APIKey) {
		k.Spec.Parent = &keywardv1.ParentReference{Name: "a"}
		// A day less than a's: created a second later, the same days would
		// outlive it.
		k.Spec.Expiration = &keywardv1.Expiration{AfterDays: ptr.To[int32](29)}
	}))).To(Succeed())
	g.Expect(k8s.Delete(ctx, a)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(a), a)) }).Should(BeTrue())

	// "a" again, now delegating from "b", which delegates from "a".
	err := k8s.Create(ctx, key(ns, "a", func(k *keywardv1.APIKey) { k.Spec.Parent = &keywardv1.ParentReference{Name: "b"} }))
	g.Expect(err).To(MatchError(ContainSubstring(`spec.parent.name: Invalid value: "b": the chain of parent keys leads back to this key`)))
}

func TestDryRunsLeaveNoTrace(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespaceWithLabels(t, nil)
	g.Expect(k8s.Create(ctx, key(ns, "dry", nil), client.DryRunAll)).To(Succeed())
	g.Expect(auditLines.String()).NotTo(ContainSubstring(`"namespace":"` + ns + `"`))

	g.Expect(k8s.Create(ctx, key(ns, "real", nil))).To(Succeed())
	g.Expect(auditLines.String()).To(MatchRegexp(`"action":"admitted_create".*"namespace":"` + ns + `","name":"real".*"actor":"[^"]+"`))
}

func TestAWebhookOutageBlocksOnlyKeywardsOwnKinds(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespaceWithLabels(t, nil)
	existing := key(ns, "existing", nil)
	g.Expect(k8s.Create(ctx, existing)).To(Succeed())
	// keyward's webhook configuration, served by nobody: what a stopped
	// webhook server looks like to the API server.
	installed := &admissionregistrationv1.ValidatingWebhookConfigurationList{}
	g.Expect(k8s.List(ctx, installed)).To(Succeed())
	g.Expect(installed.Items).To(HaveLen(1))
	down := installed.Items[0].DeepCopy()
	down.ObjectMeta = metav1.ObjectMeta{Name: "keyward-server-down"}
	for i := range down.Webhooks {
		// The validators fail closed; the recorder of revocations and
		// deletions, which must never block them, fails open.
		want := admissionregistrationv1.Fail
		if down.Webhooks[i].Name == "apikey-audit.keyward.dev" {
			want = admissionregistrationv1.Ignore
		}
		g.Expect(*down.Webhooks[i].FailurePolicy).To(Equal(want), down.Webhooks[i].Name)
		down.Webhooks[i].Name = strings.Replace(down.Webhooks[i].Name, ".keyward.dev", "-down.keyward.dev", 1)
		down.Webhooks[i].ClientConfig.URL = ptr.To("https://127.0.0.1:1/unreachable")
	}
	g.Expect(k8s.Create(ctx, down)).To(Succeed())
	defer func() { g.Expect(k8s.Delete(ctx, down)).To(Succeed()) }()

	g.Eventually(func() error { return k8s.Create(ctx, key(ns, "blocked", nil), client.DryRunAll) }).
		Should(MatchError(ContainSubstring("failed calling webhook")), "keyward's own kinds fail closed")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unrelated"}, Data: map[string]string{"a": "b"}}
	g.Expect(k8s.Create(ctx, cm)).To(Succeed(), "nothing else in the cluster is blocked")

	g.Expect(k8s.Patch(ctx, existing, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"description":"x"}}`)))).
		To(MatchError(ContainSubstring("failed calling webhook")), "other changes to keys fail closed")
	g.Expect(k8s.Patch(ctx, existing, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"revoked":true}}`)))).
		To(Succeed(), "revoking a key never waits for the webhook")
	g.Expect(k8s.Delete(ctx, existing)).To(Succeed(), "nor does deleting one, even with the recorder down")
}
