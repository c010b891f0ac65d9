package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

// fakeArchives writes archives with distinct contents, as make
// plugin-release names them, and returns their SHA-256 by name.
func fakeArchives(t *testing.T, dir, version string, platforms ...[2]string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for _, p := range platforms {
		name := ArchiveName(version, p[0], p[1])
		content := []byte("archive of " + p[0] + "/" + p[1])
		NewWithT(t).Expect(os.WriteFile(filepath.Join(dir, name), content, 0o644)).To(Succeed())
		sum := sha256.Sum256(content)
		sums[name] = hex.EncodeToString(sum[:])
	}
	return sums
}

func TestManifestHasOnePlatformPerArchive(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	sums := fakeArchives(t, dir, "v1.2.3", [2]string{"linux", "amd64"}, [2]string{"darwin", "arm64"}, [2]string{"windows", "amd64"})
	out := filepath.Join(t.TempDir(), "krew", "keyward.yaml")

	g.Expect(run([]string{"-version", "v1.2.3", "-archives", dir, "-out", out})).To(Succeed())
	b, err := os.ReadFile(out)
	g.Expect(err).NotTo(HaveOccurred())
	var m map[string]any
	g.Expect(yaml.Unmarshal(b, &m)).To(Succeed())
	g.Expect(m["apiVersion"]).To(Equal("krew.googlecontainertools.github.com/v1alpha2"))
	g.Expect(m["kind"]).To(Equal("Plugin"))
	g.Expect(m["metadata"]).To(Equal(map[string]any{"name": "keyward"}))
	spec := m["spec"].(map[string]any)
	g.Expect(spec["version"]).To(Equal("v1.2.3"))
	g.Expect(spec["shortDescription"]).NotTo(BeEmpty())
	platforms := spec["platforms"].([]any)
	g.Expect(platforms).To(HaveLen(3))
	byOS := map[string]map[string]any{}
	for _, p := range platforms {
		p := p.(map[string]any)
		labels := p["selector"].(map[string]any)["matchLabels"].(map[string]any)
		byOS[labels["os"].(string)+"/"+labels["arch"].(string)] = p
	}
	g.Expect(byOS).To(HaveKey("linux/amd64"))
	g.Expect(byOS).To(HaveKey("darwin/arm64"))
	linux := byOS["linux/amd64"]
	g.Expect(linux["uri"]).To(Equal("https://github.com/keyward-dev/keyward/releases/download/v1.2.3/kubectl-keyward_v1.2.3_linux_amd64.tar.gz"))
	g.Expect(linux["sha256"]).To(Equal(sums["kubectl-keyward_v1.2.3_linux_amd64.tar.gz"]))
	g.Expect(linux["bin"]).To(Equal("kubectl-keyward"))
	g.Expect(byOS["windows/amd64"]["bin"]).To(Equal("kubectl-keyward.exe"))
	g.Expect(byOS["windows/amd64"]["sha256"]).To(Equal(sums["kubectl-keyward_v1.2.3_windows_amd64.tar.gz"]))
}

func TestManifestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		setup   func(t *testing.T, dir string)
		want    string
	}{
		{"no semantic version", "1.2", func(*testing.T, string) {}, `version "1.2" is not a semantic version`},
		{"no archives", "v1.2.3", func(*testing.T, string) {}, "holds no archives: run make plugin-release"},
		{"an archive of another release", "v1.2.3", func(t *testing.T, dir string) {
			fakeArchives(t, dir, "v1.2.3", [2]string{"linux", "amd64"})
			fakeArchives(t, dir, "v1.2.2", [2]string{"linux", "amd64"})
		}, "kubectl-keyward_v1.2.2_linux_amd64.tar.gz: not an archive of kubectl-keyward v1.2.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			dir := t.TempDir()
			tc.setup(t, dir)
			out := filepath.Join(t.TempDir(), "keyward.yaml")
			err := run([]string{"-version", tc.version, "-archives", dir, "-out", out})
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
			g.Expect(out).NotTo(BeAnExistingFile())
		})
	}
}
