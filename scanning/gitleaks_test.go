package scanning

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/keys"
)

func TestTheCommittedGitleaksConfigIsGeneratedFromTheKeyFormat(t *testing.T) {
	g := NewWithT(t)
	want, err := GitleaksConfig()
	g.Expect(err).NotTo(HaveOccurred())
	got, err := os.ReadFile(GitleaksConfigFile)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(got)).To(Equal(string(want)), "scanning/%s is not what internal/keys generates: run `make gitleaks-config` and commit it", GitleaksConfigFile)
	g.Expect(string(got)).To(ContainSubstring("regex = '''" + keys.ScanPattern + "'''"))
}

// The documentation gives the expression to GitHub's custom patterns by
// hand: it must be the one the key format defines.
func TestTheSecretScanningDocQuotesTheScanPattern(t *testing.T) {
	g := NewWithT(t)
	doc, err := os.ReadFile(filepath.Join("..", "docs", "secret-scanning.md"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(doc)).To(ContainSubstring("`" + keys.ScanPattern + "`"))
	g.Expect(strings.Count(string(doc), "keyward_[")).To(Equal(strings.Count(string(doc), keys.ScanPattern)),
		"docs/secret-scanning.md quotes an expression for keys that is not keys.ScanPattern")
}
