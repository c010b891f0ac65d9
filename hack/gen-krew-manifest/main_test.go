package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

// fakeArchives writes archives as make plugin-release builds them (a tar.gz
// holding the binary, built for the platform) and returns their SHA-256
// by name.
func fakeArchives(t *testing.T, dir, version string, platforms ...[2]string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for _, p := range platforms {
		bin := binary
		if p[0] == "windows" {
			bin += ".exe"
		}
		name := ArchiveName(version, p[0], p[1])
		writeArchive(t, filepath.Join(dir, name), tarEntry{name: bin, body: executable(t, p[0], p[1])})
		content, err := os.ReadFile(filepath.Join(dir, name))
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		sum := sha256.Sum256(content)
		sums[name] = hex.EncodeToString(sum[:])
	}
	return sums
}

type tarEntry struct {
	name, link string
	body       []byte
	typ        byte
}

func writeArchive(t *testing.T, file string, entries ...tarEntry) {
	t.Helper()
	g := NewWithT(t)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		g.Expect(tw.WriteHeader(&tar.Header{Name: e.name, Linkname: e.link, Typeflag: typ, Mode: 0o755, Size: int64(len(e.body))})).To(Succeed())
		_, err := tw.Write(e.body)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(tw.Close()).To(Succeed())
	g.Expect(gz.Close()).To(Succeed())
	g.Expect(os.WriteFile(file, buf.Bytes(), 0o644)).To(Succeed())
}

var executables = map[string][]byte{}

// executable is a real (tiny) Go program built for goos/goarch.
func executable(t *testing.T, goos, goarch string) []byte {
	t.Helper()
	if b, ok := executables[goos+"/"+goarch]; ok {
		return b
	}
	g := NewWithT(t)
	src := t.TempDir()
	g.Expect(os.WriteFile(filepath.Join(src, "go.mod"), []byte("module tiny\n\ngo 1.21\n"), 0o644)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)).To(Succeed())
	out := filepath.Join(src, "tiny")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	b, err := cmd.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), string(b))
	b, err = os.ReadFile(out)
	g.Expect(err).NotTo(HaveOccurred())
	executables[goos+"/"+goarch] = b
	return b
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
	g.Expect(linux["files"]).To(Equal([]any{map[string]any{"from": "kubectl-keyward", "to": "."}}), "no LICENSE in the archive, none in the manifest")
}

func TestManifestNamesALicenseThatIsPackaged(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	writeArchive(t, filepath.Join(dir, ArchiveName("v1.2.3", "linux", "amd64")),
		tarEntry{name: binary, body: executable(t, "linux", "amd64")}, tarEntry{name: "LICENSE", body: []byte("license text")})
	m, err := Generate("v1.2.3", dir, defaultURLBase)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.Spec.Platforms[0].Files).To(Equal([]File{{From: binary, To: "."}, {From: "LICENSE", To: "."}}))
}

// Archive names are not trusted: each archive is opened, and its binary
// must be the plugin built for the platform the name claims.
func TestManifestRefusesArchivesThatAreNotWhatTheirNameSays(t *testing.T) {
	linuxAMD64 := ArchiveName("v1.2.3", "linux", "amd64")
	for _, tc := range []struct {
		name    string
		archive string
		entries func(t *testing.T) []tarEntry
		want    string
	}{
		{"a darwin binary in a linux archive", linuxAMD64, func(t *testing.T) []tarEntry {
			return []tarEntry{{name: binary, body: executable(t, "darwin", "arm64")}}
		}, "kubectl-keyward: not an ELF executable, as linux/amd64 needs"},
		{"an arm64 binary in an amd64 archive", linuxAMD64, func(t *testing.T) []tarEntry {
			return []tarEntry{{name: binary, body: executable(t, "linux", "arm64")}}
		}, "an ELF executable for EM_AARCH64, not linux/amd64 (EM_X86_64)"},
		{"a linux binary in a windows archive", ArchiveName("v1.2.3", "windows", "amd64"), func(t *testing.T) []tarEntry {
			return []tarEntry{{name: binary + ".exe", body: executable(t, "linux", "amd64")}}
		}, "not a PE executable, as windows/amd64 needs"},
		{"a windows archive without .exe", ArchiveName("v1.2.3", "windows", "amd64"), func(t *testing.T) []tarEntry {
			return []tarEntry{{name: binary, body: executable(t, "windows", "amd64")}}
		}, `unexpected entry "kubectl-keyward"`},
		{"the binary as a symlink", linuxAMD64, func(t *testing.T) []tarEntry {
			return []tarEntry{{name: binary, link: "/usr/bin/sh", typ: tar.TypeSymlink}}
		}, "kubectl-keyward is not a regular file"},
		{"no binary", linuxAMD64, func(t *testing.T) []tarEntry {
			return []tarEntry{{name: "LICENSE", body: []byte("license")}}
		}, "holds no regular file kubectl-keyward"},
		{"a stray file", linuxAMD64, func(t *testing.T) []tarEntry {
			return []tarEntry{{name: binary, body: executable(t, "linux", "amd64")}, {name: "../../.bashrc", body: []byte("evil")}}
		}, `unexpected entry "../../.bashrc"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			dir := t.TempDir()
			writeArchive(t, filepath.Join(dir, tc.archive), tc.entries(t)...)
			out := filepath.Join(t.TempDir(), "keyward.yaml")
			err := run([]string{"-version", "v1.2.3", "-archives", dir, "-out", out})
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
			g.Expect(out).NotTo(BeAnExistingFile())
		})
	}
	t.Run("not a tar.gz", func(t *testing.T) {
		g := NewWithT(t)
		dir := t.TempDir()
		g.Expect(os.WriteFile(filepath.Join(dir, linuxAMD64), []byte("archive of linux/amd64"), 0o644)).To(Succeed())
		_, err := Generate("v1.2.3", dir, defaultURLBase)
		g.Expect(err).To(MatchError(ContainSubstring("not a gzip-compressed tar archive")))
	})
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
