// Package argocd holds keyward's Argo CD resource customizations in Argo
// CD's own layout (resource_customizations/<group>/<Kind>/health.lua with
// its health_test.yaml and testdata), and writes the argocd-cm patch that
// installs them in a running Argo CD.
package argocd

import (
	"embed"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/keyward-dev/keyward/internal/argocdhealth"
)

// Group is the API group the customizations are filed under.
const Group = "keyward.dev"

// Kinds are the kinds with a health script, in the order the argocd-cm
// patch lists them.
var Kinds = []string{"APIKey", "SigningKey", "KeyPolicy"}

//go:embed resource_customizations/keyward.dev/*/health.lua
var scripts embed.FS

// KindDir is where a kind's customization lives, relative to this
// package's directory.
func KindDir(kind string) string {
	return path.Join("resource_customizations", Group, kind)
}

// HealthScript is the health.lua of a kind.
func HealthScript(kind string) (string, error) {
	b, err := scripts.ReadFile(path.Join(KindDir(kind), "health.lua"))
	if err != nil {
		return "", fmt.Errorf("no health script for %s/%s: %w", Group, kind, err)
	}
	return string(b), nil
}

// HealthTests is a health_test.yaml, the file Argo CD's own test reads
// next to each health.lua.
type HealthTests struct {
	Tests []HealthTest `json:"tests"`
}

// HealthTest is one case: the status the script must return for the
// object in inputPath (relative to the kind's directory).
type HealthTest struct {
	HealthStatus argocdhealth.Status `json:"healthStatus"`
	InputPath    string              `json:"inputPath"`
}

// ReadHealthTests reads the health_test.yaml in a kind's directory.
func ReadHealthTests(kindDir string) (HealthTests, error) {
	var tests HealthTests
	b, err := os.ReadFile(filepath.Join(kindDir, "health_test.yaml"))
	if err != nil {
		return tests, err
	}
	if err := yaml.UnmarshalStrict(b, &tests); err != nil {
		return tests, fmt.Errorf("%s: %w", filepath.Join(kindDir, "health_test.yaml"), err)
	}
	return tests, nil
}

// WriteHealthTests writes a kind's health_test.yaml.
func WriteHealthTests(kindDir string, tests HealthTests) error {
	b, err := yaml.Marshal(tests)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(kindDir, "health_test.yaml"), b, 0o644)
}

// Set records the expected status for inputPath, replacing the case that
// already names it.
func (h *HealthTests) Set(inputPath string, status argocdhealth.Status) {
	for i := range h.Tests {
		if h.Tests[i].InputPath == inputPath {
			h.Tests[i].HealthStatus = status
			return
		}
	}
	h.Tests = append(h.Tests, HealthTest{HealthStatus: status, InputPath: inputPath})
}

// ReadObject reads a testdata file as Argo CD's test does: YAML into
// maps, numbers as float64.
func ReadObject(file string) (map[string]any, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return obj, nil
}
