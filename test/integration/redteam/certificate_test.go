package redteam

import (
	"context"
	"fmt"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// Certificates are public: whoever sees one in a handshake or a log knows
// its thumbprint and names. These attacks bind another tenant's
// certificate to a key of one's own. Without the certificate's private key
// they can never present it; what they may hope for is that the victim's
// certificate lands on the attacker's key, or that the victim's binding
// moves.

// certificateSpec is a key that authenticates by the certificate cc binds
// and, for the test to see the key work, by itself.
func certificateSpec(owner string, cc keywardv1.ClientCertificate) keywardv1.APIKeySpec {
	return keywardv1.APIKeySpec{Owner: owner, Scopes: readScope,
		AuthMethods:       []keywardv1.AuthMethod{keywardv1.AuthMethodMutualTLS, keywardv1.AuthMethodAPIKey},
		ClientCertificate: &cc}
}

// warningsOf collects the warnings the API server passes on.
type warningsOf struct {
	mu   sync.Mutex
	list []string
}

func (w *warningsOf) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// createWarned creates an APIKey as the tenant, as kubectl would, and
// returns the warnings kubectl would print.
func (tn tenant) createWarned(g *WithT, name string, spec keywardv1.APIKeySpec) []string {
	var seen warningsOf
	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: tn.user}
	cfg.WarningHandler = &seen
	dyn, err := dynamic.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: name}, Spec: spec})
	g.Expect(err).NotTo(HaveOccurred())
	obj := &unstructured.Unstructured{Object: u}
	obj.SetAPIVersion(keywardv1.GroupVersion.String())
	obj.SetKind("APIKey")
	_, err = dyn.Resource(keywardv1.GroupVersion.WithResource("apikeys")).Namespace(tn.ns).Create(context.Background(), obj, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	seen.mu.Lock()
	defer seen.mu.Unlock()
	return seen.list
}

// recordsBinding lists the records that bind a certificate by any of its
// thumbprint, subject or names: the candidates a verifier finds for it.
func recordsBinding(g Gomega, cert *testutil.Cert) []record.Record {
	list := &corev1.SecretList{}
	g.Expect(admin.List(context.Background(), list, client.InNamespace(verifierNamespace), client.MatchingLabels{record.RecordLabel: "true"})).To(Succeed())
	lookup := map[string]bool{}
	for _, k := range certbind.LookupKeys(cert.Cert) {
		lookup[k] = true
	}
	var out []record.Record
	for _, s := range list.Items {
		rec, err := record.Decode(s.Data[record.DataKey])
		g.Expect(err).NotTo(HaveOccurred())
		if rec.ClientCertificate != nil && lookup[rec.ClientCertificate.LookupKey()] {
			out = append(out, rec)
		}
	}
	return out
}

// TestAttackBindAnotherTenantsCertificate: mallory binds her key to the
// thumbprint of the victim's client certificate, with the certificate
// alone as credential. The webhook admits it and tells her nothing of
// other namespaces (no tenant can see other tenants' keys, nor probe for
// them with a dry run). The victim's record does not change, and each record binds
// exactly one APIKey: the verifier finds two candidates for the victim's
// certificate and, both taking the certificate alone, must authenticate
// neither (and log it), so mallory never receives the victim's requests.
// mallory holds no private key of the certificate, so she cannot present
// it herself.
func TestAttackBindAnotherTenantsCertificate(t *testing.T) {
	g := NewWithT(t)
	victim, mallory := newTenant(t, g, "victim"), newTenant(t, g, "mallory")
	cert := testutil.SelfSigned(t, testutil.CertOptions{CommonName: "victim-reporter"})
	pinned := keywardv1.ClientCertificate{Thumbprint: certbind.Thumbprint(cert.Cert.Raw)}

	vk := victim.createKey(t, g, "reporter", certificateSpec("victim", pinned))
	before := recordOf(g, vk.Status.KeyID)
	g.Expect(before.ClientCertificate).To(HaveValue(HaveField("Thumbprint", pinned.Thumbprint)))

	warnings := mallory.createWarned(g, "copycat", certificateSpec("mallory", pinned))
	for _, w := range warnings {
		g.Expect(w).NotTo(Or(ContainSubstring(victim.ns), ContainSubstring("reporter"), ContainSubstring("same certificate")),
			"nothing tells mallory that another namespace binds the certificate")
	}
	mk := mallory.waitReady(g, "copycat")

	g.Expect(recordOf(g, vk.Status.KeyID)).To(Equal(before), "the victim's record is not touched")
	candidates := recordsBinding(g, cert)
	g.Expect(candidates).To(HaveLen(2))
	owners := map[record.APIKeyRef]string{}
	for _, rec := range candidates {
		owners[rec.APIKey] = rec.KeyID
		g.Expect(rec.ClientCertificate.RequiresKey()).To(BeFalse())
	}
	g.Expect(owners).To(Equal(map[record.APIKeyRef]string{
		{UID: string(vk.UID), Namespace: victim.ns, Name: "reporter"}: vk.Status.KeyID,
		{UID: string(mk.UID), Namespace: mallory.ns, Name: "copycat"}: mk.Status.KeyID,
	}), "each record binds exactly one APIKey, its own")

	// The victim's key itself keeps working: the copy took nothing from it.
	expectPermitted(g, victim.delivered(g, "reporter"), vk.Status.KeyID)
}

// TestAttackBindAnotherTenantsNameUnderAPolicy: where the administrator
// gives each tenant its own authority (KeyPolicy allowedAuthorities),
// mallory cannot name the victim's authority, nor dodge it with a
// thumbprint alone; a thumbprint under her own authority matches only a
// certificate her authority issued, which the victim's is not.
func TestAttackBindAnotherTenantsNameUnderAPolicy(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	victim, mallory := newTenant(t, g, "victim"), newTenant(t, g, "mallory")
	mesh := testutil.NewCA(t, "victim-mesh")
	spiffe := "spiffe://example.org/ns/" + victim.ns + "/sa/reporter"
	cert := mesh.Issue(t, testutil.CertOptions{CommonName: "reporter", URIs: []string{spiffe}})
	victim.createKey(t, g, "reporter", certificateSpec("victim", keywardv1.ClientCertificate{URI: spiffe, Authority: "victim-mesh"}))

	p := &keywardv1.KeyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "authorities-" + mallory.ns},
		Spec: keywardv1.KeyPolicySpec{
			NamespaceSelector:  metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": mallory.ns}},
			AllowedAuthorities: []keywardv1.AuthorityName{"mallory-mesh"},
		},
	}
	g.Expect(admin.Create(ctx, p)).To(Succeed())
	t.Cleanup(func() { _ = admin.Delete(context.Background(), p) })

	for name, cc := range map[string]keywardv1.ClientCertificate{
		"victims-name":    {URI: spiffe, Authority: "victim-mesh"},
		"victims-pin":     {Thumbprint: certbind.Thumbprint(cert.Cert.Raw)},
		"victims-pin-too": {Thumbprint: certbind.Thumbprint(cert.Cert.Raw), Authority: "victim-mesh"},
	} {
		key := &keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: mallory.ns, Name: name}, Spec: certificateSpec("mallory", cc)}
		err := mallory.c.Create(ctx, key)
		g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%s: got %v", name, err)
		g.Expect(err.Error()).To(ContainSubstring(fmt.Sprintf("spec.clientCertificate.authority: Forbidden: %s", map[bool]string{
			true:  `KeyPolicy "` + p.Name + `" requires a certificate issued by one of its authorities (mallory-mesh)`,
			false: `authority "victim-mesh" is not allowed by KeyPolicy "` + p.Name + `" (allowed: mallory-mesh)`,
		}[cc.Authority == ""])), name)
	}
	// Her own authority is hers to use; the victim's certificate does not
	// chain to it, so the verifier's chain check leaves the victim the one
	// candidate that fully matches.
	mk := mallory.createKey(t, g, "own", certificateSpec("mallory", keywardv1.ClientCertificate{Thumbprint: certbind.Thumbprint(cert.Cert.Raw), Authority: "mallory-mesh"}))
	g.Expect(recordOf(g, mk.Status.KeyID).ClientCertificate.Authority).To(Equal("mallory-mesh"))
}
