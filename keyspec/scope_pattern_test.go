package keyspec_test

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/keyward-dev/keyward/internal/scope"
)

// The API server validates scopes with the CRD's pattern; the verifier and
// the webhook read them with the scope package. They must agree exactly, or
// a key could be admitted that the verifier reads differently.
func TestTheCRDValidatesScopesWithTheScopeGrammar(t *testing.T) {
	g := NewWithT(t)
	raw, err := os.ReadFile(filepath.Join("..", "config", "crd", "bases", "keyward.dev_apikeys.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	crd := &apiextensionsv1.CustomResourceDefinition{}
	g.Expect(yaml.Unmarshal(raw, crd)).To(Succeed())
	g.Expect(crd.Spec.Versions).To(HaveLen(1))

	items := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["scopes"].Items.Schema
	g.Expect(items.Pattern).To(Equal(scope.Pattern))
	g.Expect(items.MaxLength).NotTo(BeNil())
	g.Expect(*items.MaxLength).To(Equal(int64(scope.MaxLength)))
}
