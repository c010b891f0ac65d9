package webhook

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/certbind"
)

const reporterSPIFFE = "spiffe://example.org/ns/payments/sa/reporter"

func boundTo(cc keywardv1.ClientCertificate, methods ...keywardv1.AuthMethod) func(*keywardv1.APIKey) {
	return func(k *keywardv1.APIKey) {
		k.Spec.AuthMethods = append([]keywardv1.AuthMethod{keywardv1.AuthMethodMutualTLS}, methods...)
		k.Spec.ClientCertificate = &cc
	}
}

// mtlsNamespace makes a namespace whose KeyPolicy allows keys by API key or
// certificate, the certificate issued by authority "mesh" only.
func mtlsNamespace(t *testing.T) (ns, policyName string) {
	t.Helper()
	ns = namespaceWithLabels(t, nil)
	policyName = "mtls-" + ns
	createPolicy(t, policyName, ns, keywardv1.KeyPolicySpec{
		AllowedAuthMethods: []keywardv1.AuthMethod{keywardv1.AuthMethodAPIKey, keywardv1.AuthMethodMutualTLS},
		AllowedAuthorities: []keywardv1.AuthorityName{"mesh"},
	})
	return ns, policyName
}

func TestAdmissionOfKeysBoundToCertificates(t *testing.T) {
	ns, p := mtlsNamespace(t)
	g := NewWithT(t)
	thumbprint := certbind.Thumbprint([]byte("a client certificate"))

	expectAdmitted(t, ns, map[string]func(*keywardv1.APIKey){
		"a SPIFFE ID from the mesh":    boundTo(keywardv1.ClientCertificate{URI: reporterSPIFFE, Authority: "mesh"}),
		"a thumbprint from the mesh":   boundTo(keywardv1.ClientCertificate{Thumbprint: thumbprint, Authority: "mesh"}),
		"a DNS name, with the key too": boundTo(keywardv1.ClientCertificate{DNSName: "reporter.payments.example.com", Authority: "mesh", Credential: keywardv1.CredentialCertificateAndKey}, keywardv1.AuthMethodAPIKey),
		"a subject":                    boundTo(keywardv1.ClientCertificate{Subject: "CN=reporter,O=Acme", Authority: "mesh"}),
		"an e-mail address":            boundTo(keywardv1.ClientCertificate{Email: "reporter@payments.example.com", Authority: "mesh"}),
		"no certificate, no MutualTLS": nil,
	})
	defaulted := key(ns, "defaulted", boundTo(keywardv1.ClientCertificate{URI: reporterSPIFFE + "-2", Authority: "mesh"}))
	g.Expect(k8s.Create(context.Background(), defaulted)).To(Succeed())
	g.Expect(defaulted.Spec.ClientCertificate.Credential).To(Equal(keywardv1.CredentialCertificate), "the API server fills in the default")

	expectRefused(t, ns, map[string]refusal{
		// The schema's rules: the API server refuses before the webhook is asked.
		"MutualTLS without a certificate": {func(k *keywardv1.APIKey) { k.Spec.AuthMethods = []keywardv1.AuthMethod{keywardv1.AuthMethodMutualTLS} },
			[]string{"spec: Invalid value: clientCertificate is set exactly when authMethods contains MutualTLS"}},
		"a certificate without MutualTLS": {func(k *keywardv1.APIKey) {
			k.Spec.ClientCertificate = &keywardv1.ClientCertificate{URI: reporterSPIFFE, Authority: "mesh"}
		}, []string{"clientCertificate is set exactly when authMethods contains MutualTLS"}},
		"a name without authority": {boundTo(keywardv1.ClientCertificate{URI: reporterSPIFFE}),
			[]string{"spec.clientCertificate: Invalid value: authority is required when binding by subject, dnsName, uri or email"}},
		"two selectors": {boundTo(keywardv1.ClientCertificate{URI: reporterSPIFFE, DNSName: "reporter.example.com", Authority: "mesh"}),
			[]string{"spec.clientCertificate: Invalid value: set exactly one of thumbprint, subject, dnsName, uri and email"}},
		"a padded thumbprint": {boundTo(keywardv1.ClientCertificate{Thumbprint: thumbprint[:42] + "=", Authority: "mesh"}),
			[]string{"spec.clientCertificate.thumbprint: Invalid value"}},
		// What only certbind can tell, through the webhook.
		"a URI that is not one": {boundTo(keywardv1.ClientCertificate{URI: "reporter", Authority: "mesh"}),
			[]string{`spec.clientCertificate.uri: Invalid value: "reporter" is not an absolute URI such as spiffe://example.org/ns/payments/sa/reporter`}},
		"a DNS name that is not one": {boundTo(keywardv1.ClientCertificate{DNSName: "-reporter.example.com", Authority: "mesh"}),
			[]string{`spec.clientCertificate.dnsName: Invalid value: "-reporter.example.com" is not a DNS name`}},
		"an e-mail address with a display name": {boundTo(keywardv1.ClientCertificate{Email: "Reporter <reporter@example.com>", Authority: "mesh"}),
			[]string{"spec.clientCertificate.email: Invalid value"}},
		// The policy's.
		"another authority": {boundTo(keywardv1.ClientCertificate{URI: reporterSPIFFE, Authority: "mesh-b"}),
			[]string{fmt.Sprintf(`spec.clientCertificate.authority: Forbidden: authority "mesh-b" is not allowed by KeyPolicy %q (allowed: mesh)`, p)}},
		"a self-signed certificate": {boundTo(keywardv1.ClientCertificate{Thumbprint: thumbprint}),
			[]string{fmt.Sprintf(`spec.clientCertificate.authority: Forbidden: KeyPolicy %q requires a certificate issued by one of its authorities (mesh)`, p)}},
		"a method the policy does not allow": {boundTo(keywardv1.ClientCertificate{URI: reporterSPIFFE, Authority: "mesh"}, keywardv1.AuthMethodClientCredentials),
			[]string{fmt.Sprintf(`spec.authMethods[1]: Forbidden: auth method "ClientCredentials" is not allowed by KeyPolicy %q`, p)}},
	})

	// A policy that does not list MutualTLS refuses it like any method.
	tokens, tp := policyNamespace(t)
	expectRefused(t, tokens, map[string]refusal{
		"MutualTLS where the policy forbids it": {boundTo(keywardv1.ClientCertificate{URI: reporterSPIFFE, Authority: "mesh"}),
			[]string{fmt.Sprintf(`spec.authMethods[0]: Forbidden: auth method "MutualTLS" is not allowed by KeyPolicy %q (allowed: APIKey, ClientCredentials)`, tp)}},
	})
}

// The webhook checks a binding with certbind even where the schema has
// let it through (an older CRD, a rule the schema cannot state), naming
// the field of every problem.
func TestClientCertificateErrorsNameTheirFields(t *testing.T) {
	g := NewWithT(t)
	errs := clientCertificateErrors(&certbind.Binding{URI: "reporter", Email: "x"})
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	g.Expect(got).To(ConsistOf(
		"spec.clientCertificate: Invalid value: exactly one of thumbprint, subject, dnsName, uri and email must be set, not 2",
		`spec.clientCertificate.uri: Invalid value: "reporter" is not an absolute URI such as spiffe://example.org/ns/payments/sa/reporter`,
		`spec.clientCertificate.email: Invalid value: "x" is not a bare e-mail address`,
	))
	errs = clientCertificateErrors(&certbind.Binding{DNSName: "reporter.example.com", Authority: "Mesh", Credential: "Key"})
	got = nil
	for _, e := range errs {
		got = append(got, e.Error())
	}
	g.Expect(got).To(ConsistOf(
		`spec.clientCertificate.authority: Invalid value: "Mesh" is not a lower-case DNS label`,
		`spec.clientCertificate.credential: Invalid value: "Key" is not Certificate or CertificateAndKey`,
	))
	g.Expect(clientCertificateErrors(&certbind.Binding{Subject: "CN=reporter"})).To(ConsistOf(HaveField("Field", "spec.clientCertificate.authority")),
		"a name without authority, refused by the webhook too")
	g.Expect(clientCertificateErrors(&certbind.Binding{URI: reporterSPIFFE, Authority: "mesh"})).To(BeEmpty())
	g.Expect(clientCertificateErrors(nil)).To(BeEmpty())
}

// createWarned creates key through a client that collects the API
// server's warnings, and returns them.
func createWarned(t *testing.T, k *keywardv1.APIKey) []string {
	t.Helper()
	return warnedOnCreate(t, k, metav1.CreateOptions{})
}

// dryRunWarned is createWarned with --dry-run=server: nothing is stored.
func dryRunWarned(t *testing.T, k *keywardv1.APIKey) []string {
	t.Helper()
	return warnedOnCreate(t, k, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
}

func warnedOnCreate(t *testing.T, k *keywardv1.APIKey, opts metav1.CreateOptions) []string {
	t.Helper()
	g := NewWithT(t)
	var seen warnings
	cfg := rest.CopyConfig(testEnv.Config)
	cfg.WarningHandler = &seen
	dyn, err := dynamic.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(k)
	g.Expect(err).NotTo(HaveOccurred())
	obj := &unstructured.Unstructured{Object: u}
	obj.SetAPIVersion(keywardv1.GroupVersion.String())
	obj.SetKind("APIKey")
	_, err = dyn.Resource(keywardv1.GroupVersion.WithResource("apikeys")).Namespace(k.Namespace).Create(context.Background(), obj, opts)
	g.Expect(err).NotTo(HaveOccurred())
	seen.mu.Lock()
	defer seen.mu.Unlock()
	return seen.list
}

// A server-side dry run stores nothing, so a warning about another
// namespace's keys would let any tenant probe, name by name and
// thumbprint by thumbprint, what other tenants bind. The answer for a
// certificate another namespace binds is the one for a certificate nobody
// binds; the verifier's own rule (a certificate matching several keys
// authenticates none) needs no warning to hold.
func TestAttackDryRunLearnsNothingOfAnotherNamespacesBindings(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	victimNS, attackerNS := namespaceWithLabels(t, nil), namespaceWithLabels(t, nil)
	binding := keywardv1.ClientCertificate{URI: reporterSPIFFE, Authority: "mesh"}
	victim := key(victimNS, "victim", boundTo(binding))
	g.Expect(k8s.Create(ctx, victim)).To(Succeed())
	g.Eventually(func() error { return cached.Get(ctx, client.ObjectKeyFromObject(victim), &keywardv1.APIKey{}) }).Should(Succeed())

	unbound := dryRunWarned(t, key(attackerNS, "probe", boundTo(keywardv1.ClientCertificate{URI: reporterSPIFFE + "-nobody", Authority: "mesh"})))
	g.Expect(unbound).NotTo(ContainElement(ContainSubstring("spec.clientCertificate")))
	g.Expect(dryRunWarned(t, key(attackerNS, "probe", boundTo(binding)))).To(Equal(unbound),
		"a dry run tells whether another namespace binds the certificate")
	g.Expect(createWarned(t, key(attackerNS, "copy", boundTo(binding)))).To(Equal(unbound))
}

// A second key bound by certificate alone to what a key of its namespace
// binds is admitted, and its author told which key: the certificate now
// authenticates neither.
func TestABindingSharedInTheNamespaceWarns(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespaceWithLabels(t, nil)
	binding := keywardv1.ClientCertificate{URI: reporterSPIFFE, Authority: "mesh"}
	first := key(ns, "first", boundTo(binding))
	g.Expect(k8s.Create(ctx, first)).To(Succeed())
	g.Eventually(func() error { return cached.Get(ctx, client.ObjectKeyFromObject(first), &keywardv1.APIKey{}) }).Should(Succeed())

	shared := "a certificate that matches more than one key authenticates none of them"
	g.Expect(createWarned(t, key(ns, "twin", boundTo(binding)))).To(ContainElement(And(
		HavePrefix(`spec.clientCertificate binds the same certificate as APIKey "first", also with credential Certificate`),
		ContainSubstring(shared))))

	// A key that must present itself with the certificate is no rival: the
	// key says which one it is.
	withKey := binding
	withKey.Credential = keywardv1.CredentialCertificateAndKey
	g.Expect(createWarned(t, key(ns, "with-key", boundTo(withKey, keywardv1.AuthMethodAPIKey)))).NotTo(ContainElement(ContainSubstring(shared)))
	// Nor one whose certificate another authority must have issued: no
	// certificate chains to both.
	g.Expect(createWarned(t, key(ns, "other-ca", boundTo(keywardv1.ClientCertificate{URI: reporterSPIFFE, Authority: "partners"})))).
		NotTo(ContainElement(ContainSubstring(shared)))
	// Nor is a key bound to another name.
	g.Expect(createWarned(t, key(ns, "other", boundTo(keywardv1.ClientCertificate{URI: reporterSPIFFE + "-b", Authority: "mesh"})))).
		NotTo(ContainElement(ContainSubstring(shared)))
}
