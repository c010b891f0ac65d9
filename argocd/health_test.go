package argocd

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/argocdhealth"
)

// TestHealthScripts runs every kind's health.lua on every case of its
// health_test.yaml, as Argo CD's own health test does (as from argocd-cm,
// and as a built-in), and checks that the cases and the testdata files
// name each other.
func TestHealthScripts(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			g := NewWithT(t)
			script, err := HealthScript(kind)
			g.Expect(err).NotTo(HaveOccurred())
			tests, err := ReadHealthTests(KindDir(kind))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(tests.Tests).NotTo(BeEmpty())

			var referenced []string
			for _, tc := range tests.Tests {
				g.Expect(referenced).NotTo(ContainElement(tc.InputPath), "health_test.yaml names %s twice", tc.InputPath)
				referenced = append(referenced, tc.InputPath)
				t.Run(filepath.Base(tc.InputPath), func(t *testing.T) {
					g := NewWithT(t)
					obj, err := ReadObject(filepath.Join(KindDir(kind), tc.InputPath))
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(obj).To(HaveKeyWithValue("kind", kind), "%s holds another kind", tc.InputPath)
					got, err := argocdhealth.Evaluate(script, obj)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(got).To(Equal(tc.HealthStatus))
					// Contributed upstream, the script would run as a
					// built-in, with every library open: same answer.
					builtIn, err := argocdhealth.EvaluateBuiltIn(script, obj)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(builtIn).To(Equal(got))
					t.Logf("%s × %s: %s: %s", kind, tc.InputPath, got.Status, got.Message)
				})
			}

			entries, err := os.ReadDir(filepath.Join(KindDir(kind), "testdata"))
			g.Expect(err).NotTo(HaveOccurred())
			for _, e := range entries {
				g.Expect(slices.Contains(referenced, "testdata/"+e.Name())).To(BeTrue(),
					"%s/testdata/%s is not referenced by any case of health_test.yaml", KindDir(kind), e.Name())
			}
		})
	}
}

// TestEveryKindHasAScriptAndNothingElseDoes keeps Kinds and the
// directories in step: a script missing from Kinds would never reach
// argocd-cm.
func TestEveryKindHasAScriptAndNothingElseDoes(t *testing.T) {
	g := NewWithT(t)
	entries, err := os.ReadDir(filepath.Join("resource_customizations", Group))
	g.Expect(err).NotTo(HaveOccurred())
	var dirs []string
	for _, e := range entries {
		dirs = append(dirs, e.Name())
	}
	g.Expect(dirs).To(ConsistOf(Kinds))
}
