package argocd

import (
	"os"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

func TestTheCommittedArgoCDPatchIsGeneratedFromTheScripts(t *testing.T) {
	g := NewWithT(t)
	want, err := ConfigMapPatch()
	g.Expect(err).NotTo(HaveOccurred())
	got, err := os.ReadFile(PatchFile)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(got)).To(Equal(string(want)), "argocd/%s is not what the health scripts generate: run `make argocd-cm` and commit it", PatchFile)
}

func TestThePatchCarriesEveryScriptUnderArgoCDsKey(t *testing.T) {
	g := NewWithT(t)
	patch, err := ConfigMapPatch()
	g.Expect(err).NotTo(HaveOccurred())
	var cm struct {
		Kind     string            `json:"kind"`
		Metadata map[string]string `json:"metadata"`
		Data     map[string]string `json:"data"`
	}
	g.Expect(yaml.Unmarshal(patch, &cm)).To(Succeed())
	g.Expect(cm.Kind).To(Equal("ConfigMap"))
	g.Expect(cm.Metadata).To(Equal(map[string]string{"name": "argocd-cm", "namespace": "argocd"}))
	g.Expect(cm.Data).To(HaveLen(len(Kinds)))
	for _, kind := range Kinds {
		script, err := HealthScript(kind)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cm.Data).To(HaveKeyWithValue("resource.customizations.health.keyward.dev_"+kind, script))
	}
}

func TestAScriptABlockScalarWouldChangeIsRefused(t *testing.T) {
	g := NewWithT(t)
	g.Expect(blockScalarSafe("APIKey", "  local hs = {}\n")).To(MatchError(ContainSubstring("column 1")))
	g.Expect(blockScalarSafe("APIKey", "return {}")).To(MatchError(ContainSubstring("exactly one newline")))
	g.Expect(blockScalarSafe("APIKey", "return {}\n\n")).To(MatchError(ContainSubstring("exactly one newline")))
	g.Expect(blockScalarSafe("APIKey", "return {}\n")).To(Succeed())
}
