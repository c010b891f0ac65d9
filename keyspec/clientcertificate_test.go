package keyspec_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/keyspec"
)

func TestClientCertificateIsTheRecordsBinding(t *testing.T) {
	g := NewWithT(t)
	k := &keywardv1.APIKey{Spec: keywardv1.APIKeySpec{
		AuthMethods:       []keywardv1.AuthMethod{keywardv1.AuthMethodMutualTLS},
		ClientCertificate: &keywardv1.ClientCertificate{URI: "spiffe://example.org/ns/a/sa/reporter", Authority: "mesh", Credential: keywardv1.CredentialCertificateAndKey},
	}}
	g.Expect(keyspec.ClientCertificate(k)).To(HaveValue(Equal(certbind.Binding{
		URI: "spiffe://example.org/ns/a/sa/reporter", Authority: "mesh", Credential: certbind.CertificateAndKey,
	})))
	g.Expect(keyspec.PolicyKey(k, k.CreationTimestamp.Time).ClientCertificate).To(Equal(keyspec.ClientCertificate(k)), "the policy sees the binding the record gets")

	// A key stored before the API server defaulted credential means the
	// default: the certificate alone.
	k.Spec.ClientCertificate.Credential = ""
	g.Expect(keyspec.ClientCertificate(k).Credential).To(Equal(certbind.CertificateOnly))

	k.Spec.ClientCertificate = nil
	g.Expect(keyspec.ClientCertificate(k)).To(BeNil())
}

// The API server checks a thumbprint and an authority with the CRD's
// patterns before certbind ever sees them: the two must agree, or a key
// could be admitted whose record the manager cannot write (or refused for
// no reason).
func TestTheCRDChecksBindingsAsCertbindDoes(t *testing.T) {
	g := NewWithT(t)
	raw, err := os.ReadFile(filepath.Join("..", "config", "crd", "bases", "keyward.dev_apikeys.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	crd := &apiextensionsv1.CustomResourceDefinition{}
	g.Expect(yaml.Unmarshal(raw, crd)).To(Succeed())
	props := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["clientCertificate"].Properties

	schemaAdmits := func(field, value string) bool {
		p := props[field]
		if p.MaxLength != nil && int64(len(value)) > *p.MaxLength || p.MinLength != nil && int64(len(value)) < *p.MinLength {
			return false
		}
		return p.Pattern == "" || regexp.MustCompile(p.Pattern).MatchString(value)
	}
	thumbprints := []string{
		certbind.Thumbprint([]byte("a certificate")),
		"Kq2Wcu2Yk8uN8vXr8a5bx0JmP9dQh3sF1tL6wZ0yE4o",
		"Kq2Wcu2Yk8uN8vXr8a5bx0JmP9dQh3sF1tL6wZ0yE4o=", // padded
		"Kq2Wcu2Yk8uN8vXr8a5bx0JmP9dQh3sF1tL6wZ0yE4",   // short
		"Kq2Wcu2Yk8uN8vXr8a5bx0JmP9dQh3sF1tL6wZ0yE+o",  // base64, not base64url
	}
	for _, tp := range thumbprints {
		g.Expect(schemaAdmits("thumbprint", tp)).To(Equal(certbind.Binding{Thumbprint: tp}.Validate() == nil), "thumbprint %q", tp)
	}
	authorities := []string{"mesh", "partners-ca", "a", "Mesh", "-mesh", "mesh-", "mesh.a", "a23456789012345678901234567890123456789012345678901234567890123", "a234567890123456789012345678901234567890123456789012345678901234"}
	for _, a := range authorities {
		g.Expect(schemaAdmits("authority", a)).To(Equal(certbind.Binding{URI: "spiffe://example.org/x", Authority: a}.Validate() == nil), "authority %q", a)
	}
	for _, f := range []string{"subject", "uri"} {
		g.Expect(*props[f].MaxLength).To(Equal(int64(certbind.MaxNameLength)), f)
	}
	for _, f := range []string{"dnsName", "email"} {
		g.Expect(*props[f].MaxLength).To(BeNumerically("<=", certbind.MaxNameLength), f)
	}
}
