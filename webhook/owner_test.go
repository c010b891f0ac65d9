package webhook

import (
	"context"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// as is a client that acts as the named user (with every right: what is
// tested is the webhook, not RBAC).
func as(t *testing.T, user string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(testEnv.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:masters"}}
	c, err := client.New(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAdmissionBindsOwnersToTheRequester(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespaceWithLabels(t, nil)
	p := "owners-" + ns
	createPolicy(t, p, ns, keywardv1.KeyPolicySpec{Owners: &keywardv1.OwnerRules{
		FromRequester: &keywardv1.RequesterOwner{Form: keywardv1.OwnerFormLocalPart, StripPrefix: "oidc:", Domain: "example.com"},
		Allowed:       []keywardv1.OwnerPattern{"svc-payments-*"},
	}})
	alice, mallory := as(t, "oidc:alice@example.com"), as(t, "oidc:mallory@example.org")
	owned := func(name, owner string) *keywardv1.APIKey {
		return key(ns, name, func(k *keywardv1.APIKey) { k.Spec.Owner = owner })
	}

	g.Expect(alice.Create(ctx, owned("alices", "alice"))).To(Succeed(), "her own name")
	g.Expect(alice.Create(ctx, owned("bots", "svc-payments-7"))).To(Succeed(), "a listed owner, whoever creates it")
	g.Expect(mallory.Create(ctx, owned("bots-too", "svc-payments-8"))).To(Succeed())

	for _, tc := range []struct {
		c     client.Client
		owner string
		opts  []client.CreateOption
		want  string
	}{
		{alice, "bob", nil, `spec.owner: Forbidden: owner "bob" is not allowed by KeyPolicy "` + p +
			`": a key here belongs to the user who creates it (owner "alice" for user "oidc:alice@example.com"), or to one of: svc-payments-*`},
		{alice, "bob", []client.CreateOption{client.DryRunAll}, `owner "bob" is not allowed`},
		{mallory, "mallory", nil, `a key here belongs to the user who creates it, and user "oidc:mallory@example.org" is not in domain "example.com", or to one of: svc-payments-*`},
		{k8s, "alice", nil, `does not begin with "oidc:"`},
	} {
		err := tc.c.Create(ctx, owned("refused", tc.owner), tc.opts...)
		g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "owner %q: got %v", tc.owner, err)
		g.Expect(err.Error()).To(ContainSubstring(tc.want))
	}

	// Anyone with the right may change what else the key says: its owner
	// was checked when it was created and cannot change.
	alicesKey := owned("alices", "alice")
	g.Expect(mallory.Patch(ctx, alicesKey, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"description":"rotated by the on-call"}}`)))).To(Succeed())
	err := alice.Patch(ctx, alicesKey, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"owner":"svc-payments-9"}}`)))
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
	g.Expect(err.Error()).To(ContainSubstring("owner is immutable"))
}

func TestAdmissionChecksListedOwnersOnEveryChange(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespaceWithLabels(t, nil)
	k := key(ns, "ops", func(k *keywardv1.APIKey) { k.Spec.Owner = "ops" })
	g.Expect(k8s.Create(ctx, k)).To(Succeed())
	p := "listed-" + ns
	createPolicy(t, p, ns, keywardv1.KeyPolicySpec{Owners: &keywardv1.OwnerRules{Allowed: []keywardv1.OwnerPattern{"svc-*"}}})

	err := k8s.Patch(ctx, k, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"description":"x"}}`)))
	g.Expect(err).To(MatchError(ContainSubstring(`spec.owner: Forbidden: owner "ops" is not allowed by KeyPolicy "` + p + `" (allowed: svc-*)`)))
	g.Expect(k8s.Patch(ctx, k, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"revoked":true}}`)))).To(Succeed(), "revoking is never refused")
}

// TestAnOwnerBindingIsFixedForThePolicysLife: the manager tells keys the
// webhook never checked against a binding by the policy's creation time,
// which only holds while the binding and the namespaces it covers stay.
func TestAnOwnerBindingIsFixedForThePolicysLife(t *testing.T) {
	ctx := context.Background()
	binding := &keywardv1.OwnerRules{FromRequester: &keywardv1.RequesterOwner{Form: keywardv1.OwnerFormUsername}}
	cases := map[string]struct {
		initial, changed keywardv1.KeyPolicySpec
		want             string // "" when the change is admitted
	}{
		"adding a binding": {
			keywardv1.KeyPolicySpec{}, keywardv1.KeyPolicySpec{Owners: binding},
			"owners.fromRequester cannot be added to an existing KeyPolicy or changed",
		},
		"changing it": {
			keywardv1.KeyPolicySpec{Owners: binding},
			keywardv1.KeyPolicySpec{Owners: &keywardv1.OwnerRules{FromRequester: &keywardv1.RequesterOwner{Form: keywardv1.OwnerFormUsername, StripPrefix: "oidc:"}}},
			"create a new KeyPolicy instead",
		},
		"moving it to other namespaces": {
			keywardv1.KeyPolicySpec{Owners: binding},
			keywardv1.KeyPolicySpec{Owners: binding, NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"team": "other"}}},
			"nor the namespaceSelector of a policy that has it",
		},
		"removing it":         {keywardv1.KeyPolicySpec{Owners: binding}, keywardv1.KeyPolicySpec{}, ""},
		"listing more owners": {keywardv1.KeyPolicySpec{Owners: binding}, keywardv1.KeyPolicySpec{Owners: &keywardv1.OwnerRules{FromRequester: binding.FromRequester, Allowed: []keywardv1.OwnerPattern{"ops"}}}, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			selector := metav1.LabelSelector{MatchLabels: map[string]string{"team": "owners-test"}}
			p := &keywardv1.KeyPolicy{ObjectMeta: metav1.ObjectMeta{GenerateName: "fixed-"}, Spec: tc.initial}
			p.Spec.NamespaceSelector = selector
			g.Expect(k8s.Create(ctx, p)).To(Succeed())
			t.Cleanup(func() { _ = k8s.Delete(ctx, p) })
			changed := p.DeepCopy()
			changed.Spec = tc.changed
			if changed.Spec.NamespaceSelector.MatchLabels == nil {
				changed.Spec.NamespaceSelector = selector
			}
			err := k8s.Update(ctx, changed)
			if tc.want == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}

func TestTheAPIServerRefusesMalformedOwnerRules(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		owners *keywardv1.OwnerRules
		want   string
	}{
		"neither":                  {&keywardv1.OwnerRules{}, "set fromRequester, allowed, or both"},
		"a domain for a username":  {&keywardv1.OwnerRules{FromRequester: &keywardv1.RequesterOwner{Form: keywardv1.OwnerFormUsername, Domain: "example.com"}}, "domain applies only to form LocalPart"},
		"a pattern with a slash":   {&keywardv1.OwnerRules{Allowed: []keywardv1.OwnerPattern{"team/a"}}, "spec.owners.allowed[0]"},
		"an unknown form":          {&keywardv1.OwnerRules{FromRequester: &keywardv1.RequesterOwner{Form: "Email"}}, "spec.owners.fromRequester.form"},
		"a domain with a wildcard": {&keywardv1.OwnerRules{FromRequester: &keywardv1.RequesterOwner{Form: keywardv1.OwnerFormLocalPart, Domain: "*.example.com"}}, "spec.owners.fromRequester.domain"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			p := &keywardv1.KeyPolicy{ObjectMeta: metav1.ObjectMeta{GenerateName: "malformed-"}, Spec: keywardv1.KeyPolicySpec{
				NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"team": "nobody"}}, Owners: tc.owners,
			}}
			err := k8s.Create(ctx, p)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}

// warnings collects the warnings the API server passes on.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// TestANewOwnerBindingWarnsAboutTheKeysItWillFlag: an administrator about
// to bind owners learns how many existing keys nobody checked, before the
// manager reports or suspends them.
func TestANewOwnerBindingWarnsAboutTheKeysItWillFlag(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespaceWithLabels(t, nil)
	for owner, name := range map[string]string{"ops": "a", "svc-1": "b", "alice": "c"} {
		g.Expect(k8s.Create(ctx, key(ns, name, func(k *keywardv1.APIKey) { k.Spec.Owner = owner }))).To(Succeed())
		g.Eventually(func() error {
			return cached.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &keywardv1.APIKey{})
		}).Should(Succeed())
	}
	var seen warnings
	cfg := rest.CopyConfig(testEnv.Config)
	cfg.WarningHandler = &seen
	dyn, err := dynamic.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	obj := &unstructured.Unstructured{}
	g.Expect(yaml.Unmarshal([]byte(`apiVersion: keyward.dev/v1alpha1
kind: KeyPolicy
metadata:
  name: bind-`+ns+`
spec:
  namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: `+ns+`
  owners:
    fromRequester: {form: Username}
    allowed: ["svc-*"]
  enforcement: Suspend
`), &obj.Object)).To(Succeed())
	gvr := keywardv1.GroupVersion.WithResource("keypolicies")
	_, err = dyn.Resource(gvr).Create(ctx, obj, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = dyn.Resource(gvr).Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{}) })
	g.Expect(seen.list).To(ContainElement("spec.owners.fromRequester: 2 existing APIKeys in the selected namespaces have owners nobody checked " +
		"against the user who created them; keyward will suspend them until they are recreated"))
}
