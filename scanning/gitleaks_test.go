package scanning

import (
	"os"
	"path/filepath"
	"regexp"
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
	g.Expect(string(doc)).To(ContainSubstring("`" + PlaceholderExclusion() + "`"))
}

func TestThePlaceholderExclusionMatchesWhatTheStopWordsLeaveOut(t *testing.T) {
	g := NewWithT(t)
	exclusion := regexp.MustCompile(PlaceholderExclusion())
	for _, placeholder := range []string{
		"keyward_exampleexamplexx_ExampleKeyForTheDocs0123456789ABCDEFGHIJKLMNOPQRS",
		"keyward_abcdefghijklmnop_YourKeyGoesHere0123456789ABCDEFGHIJKLMNOPQRSTUVWX",
		"keyward_abcdefghijklmnop_PLACEHOLDER0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZab",
	} {
		g.Expect(exclusion.MatchString(placeholder)).To(BeTrue(), placeholder)
	}
	for range 100 {
		key, err := keys.Generate("")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(exclusion.MatchString(key.Plaintext())).To(BeFalse())
	}
}
