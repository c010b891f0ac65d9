// Command gen-krew-manifest writes the krew manifest of a release of the
// kubectl plugin from the archives `make plugin-release` built: one
// platform per archive, each with the archive's SHA-256, so that the
// manifest is never written (or mistyped) by hand.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

const (
	pluginName = "keyward"
	binary     = "kubectl-keyward"
	homepage   = "https://github.com/keyward-dev/keyward"
	// defaultURLBase is where a release's archives are published; {version}
	// is replaced by the version.
	defaultURLBase = homepage + "/releases/download/{version}"
)

// semver is the version form krew accepts: v, three numbers, and an
// optional pre-release.
var semver = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

// Manifest is krew's Plugin (krew.googlecontainertools.github.com/v1alpha2),
// with only the fields keyward fills.
type Manifest struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
}

// Metadata names the plugin in krew's index.
type Metadata struct {
	Name string `json:"name"`
}

// Spec is one release of the plugin.
type Spec struct {
	Version          string     `json:"version"`
	Homepage         string     `json:"homepage"`
	ShortDescription string     `json:"shortDescription"`
	Description      string     `json:"description"`
	Platforms        []Platform `json:"platforms"`
}

// Platform is the archive of one OS and architecture.
type Platform struct {
	Selector Selector `json:"selector"`
	URI      string   `json:"uri"`
	SHA256   string   `json:"sha256"`
	Files    []File   `json:"files"`
	Bin      string   `json:"bin"`
}

// Selector picks a platform by krew's os and arch labels.
type Selector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

// File is copied from the unpacked archive into the install directory.
type File struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ArchiveName is the name `make plugin-release` gives the archive of one
// platform.
func ArchiveName(version, goos, goarch string) string {
	return fmt.Sprintf("%s_%s_%s_%s.tar.gz", binary, version, goos, goarch)
}

// Generate builds the manifest of version from the archives in dir. Every
// file in dir must be an archive of this version: a stray archive of
// another release would otherwise ship with the wrong checksum or none.
// Each archive is opened: it must hold the plugin's binary, built for the
// platform its name claims.
func Generate(version, dir, urlBase string) (*Manifest, error) {
	if !semver.MatchString(version) {
		return nil, fmt.Errorf("version %q is not a semantic version such as v1.2.3 (krew requires one)", version)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	name := regexp.MustCompile(`^` + regexp.QuoteMeta(binary+"_"+version+"_") + `([a-z0-9]+)_([a-z0-9]+)\.tar\.gz$`)
	base := strings.TrimSuffix(strings.ReplaceAll(urlBase, "{version}", version), "/")
	var platforms []Platform
	for _, e := range entries {
		m := name.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("%s: not an archive of %s %s (want %s)", filepath.Join(dir, e.Name()), binary, version, ArchiveName(version, "<os>", "<arch>"))
		}
		bin := binary
		if m[1] == "windows" {
			bin += ".exe"
		}
		// The name says which platform; the binary inside must agree.
		contents, err := inspectArchive(filepath.Join(dir, e.Name()), bin, m[1], m[2])
		if err != nil {
			return nil, err
		}
		sum, err := sha256File(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files := []File{{From: bin, To: "."}}
		if contents.hasLicense {
			files = append(files, File{From: licenseFile, To: "."})
		}
		platforms = append(platforms, Platform{
			Selector: Selector{MatchLabels: map[string]string{"os": m[1], "arch": m[2]}},
			URI:      base + "/" + e.Name(),
			SHA256:   sum,
			Files:    files,
			Bin:      bin,
		})
	}
	if len(platforms) == 0 {
		return nil, fmt.Errorf("%s holds no archives: run make plugin-release", dir)
	}
	sort.Slice(platforms, func(i, j int) bool { return platforms[i].URI < platforms[j].URI })
	return &Manifest{
		APIVersion: "krew.googlecontainertools.github.com/v1alpha2",
		Kind:       "Plugin",
		Metadata:   Metadata{Name: pluginName},
		Spec: Spec{
			Version:          version,
			Homepage:         homepage,
			ShortDescription: "Manage keyward API keys: create, rotate, revoke, check",
			Description: `kubectl keyward lists, creates, rotates, suspends and revokes keyward API
keys by name, prefix <owner>/<keyID> or key ID, prints a new key once,
lists and evicts an owner's enrolled client keys, and checks that keyward's
CRDs, admission webhook and verifier work in a namespace.
`,
			Platforms: platforms,
		},
	}, nil
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func run(args []string) error {
	fs := flag.NewFlagSet("gen-krew-manifest", flag.ContinueOnError)
	version := fs.String("version", "", "the release's version, e.g. v0.3.0")
	dir := fs.String("archives", "dist/plugin", "directory of the release archives")
	out := fs.String("out", "dist/krew/keyward.yaml", "the manifest to write")
	urlBase := fs.String("url-base", defaultURLBase, "where the archives are downloaded from; {version} is replaced")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" {
		return errors.New("-version is required")
	}
	m, err := Generate(*version, *dir, *urlBase)
	if err != nil {
		return err
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(*out, b, 0o644)
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen-krew-manifest:", err)
		os.Exit(1)
	}
}
