package scanning

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// finding is what the test reads of gitleaks' JSON report.
type finding struct {
	RuleID    string
	File      string
	StartLine int
	Secret    string
	Entropy   float64
}

// placement is where a key is expected: the file and the line gitleaks
// must report it on.
type placement struct {
	File   string
	Line   int
	Secret string
}

// fixture is a file with markers ({{A}}, {{B}}) that the test replaces
// with keys (or, for {{A64}}, the base64 of key A).
type fixture struct {
	name    string
	content string
}

var keyContexts = []fixture{
	{"client.go", `package client

import "net/http"

// apiKey was committed by mistake.
const apiKey = "{{A}}"

func authorize(req *http.Request) {
	req.Header.Set("Authorization", "Bearer {{B}}")
}
`},
	{".env", `# local development
LISTEN_ADDR=:8080
KEYWARD_API_KEY={{A}}
`},
	{"config.yaml", `upstream:
  url: https://api.example.com
  auth:
    header: X-API-Key
    apiKey: {{A}}
`},
	{"config.json", `{
  "endpoint": "https://api.example.com/v1",
  "credentials": {
    "apiKey": "{{A}}"
  }
}
`},
	{"call-api.sh", `#!/bin/sh
set -eu
curl -fsS -H "Authorization: Bearer {{A}}" https://api.example.com/v1/orders
`},
	{"secret.yaml", `apiVersion: v1
kind: Secret
metadata:
  name: orders-api-key
type: Opaque
stringData:
  api-key: {{A}}
`},
	// kubectl create secret writes data, base64: gitleaks decodes it.
	{"secret-data.yaml", `apiVersion: v1
kind: Secret
metadata:
  name: orders-api-key
type: Opaque
data:
  api-key: {{A64}}
`},
}

// keywardOnly scans with keyward's rule alone, leaving out gitleaks' own
// rules that the configuration extends.
var keywardOnly = []string{"--enable-rule", GitleaksRuleID}

func TestGitleaksFindsKeysInEveryContext(t *testing.T) {
	g := NewWithT(t)
	gitleaks := gitleaksProgram(t)
	dir := t.TempDir()
	var want []placement
	for _, f := range keyContexts {
		want = append(want, writeFixture(t, dir, f)...)
	}

	found, code := scan(t, gitleaks, dir, keywardOnly...)
	g.Expect(code).To(Equal(1), "gitleaks exits 1 when it finds leaks")
	g.Expect(places(found)).To(ConsistOf(want), "every key found exactly once, on its line, by keyward's rule")
	for _, f := range found {
		g.Expect(f.RuleID).To(Equal(GitleaksRuleID))
	}
}

// With gitleaks' own rules (the configuration as shipped), each key is
// still reported once by keyward's rule; gitleaks drops its generic rule's
// finding of the same key, and other rules (a curl header, a Secret
// manifest) may report the line as well.
func TestGitleaksFindsKeysAlongsideItsDefaultRules(t *testing.T) {
	g := NewWithT(t)
	gitleaks := gitleaksProgram(t)
	dir := t.TempDir()
	var want []placement
	for _, f := range keyContexts {
		want = append(want, writeFixture(t, dir, f)...)
	}

	found, code := scan(t, gitleaks, dir)
	g.Expect(code).To(Equal(1))
	keysWritten := map[string]bool{}
	for _, p := range want {
		keysWritten[p.Secret] = true
	}
	var ours []finding
	for _, f := range found {
		switch f.RuleID {
		case GitleaksRuleID:
			ours = append(ours, f)
		case "generic-api-key":
			g.Expect(keysWritten).NotTo(HaveKey(f.Secret), "keyward's rule takes precedence over gitleaks' generic one")
		}
	}
	g.Expect(places(ours)).To(ConsistOf(want))
}

// A repository whose .gitleaks.toml extends keyward's file (as
// docs/secret-scanning.md says) gets keyward's rule, gitleaks' default
// rules through it, and its own disabledRules applied to both.
func TestARepositoryConfigExtendingTheRuleKeepsTheDefaultRules(t *testing.T) {
	g := NewWithT(t)
	gitleaks := gitleaksProgram(t)
	shipped, err := os.ReadFile(GitleaksConfigFile)
	g.Expect(err).NotTo(HaveOccurred())
	repo := t.TempDir()
	g.Expect(os.Mkdir(filepath.Join(repo, ".gitleaks"), 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(repo, ".gitleaks", "keyward.toml"), shipped, 0o600)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(repo, ".gitleaks.toml"), []byte(`[extend]
path = ".gitleaks/keyward.toml"
disabledRules = ["curl-auth-header"]
`), 0o600)).To(Succeed())
	key := newKey(t).Plaintext()
	// A GitHub token's shape, for one of gitleaks' default rules.
	githubToken := "ghp_" + key[len(key)-40:len(key)-4]
	g.Expect(os.WriteFile(filepath.Join(repo, "deploy.sh"), []byte(`#!/bin/sh
export GITHUB_TOKEN=`+githubToken+`
curl -fsS -H "Authorization: Bearer `+key+`" https://api.example.com/v1/orders
`), 0o600)).To(Succeed())

	found, code := runGitleaks(t, gitleaks, repo, ".")
	g.Expect(code).To(Equal(1))
	rules := map[string]placement{}
	for _, f := range found {
		rules[f.RuleID] = placement{File: f.File, Line: f.StartLine, Secret: f.Secret}
	}
	g.Expect(rules).To(Equal(map[string]placement{
		GitleaksRuleID: {File: "deploy.sh", Line: 3, Secret: key},
		"github-pat":   {File: "deploy.sh", Line: 2, Secret: githubToken},
	}), "keyward's rule and gitleaks' default rules, without the disabled curl-auth-header")
}

// A regular expression cannot check a CRC32 and gitleaks v8.30 has no
// validation hook (composite [[rules.required]] only asks for another
// rule's match nearby), so a key-shaped string with a wrong checksum is
// reported; the verifier and the leaked-key report endpoint refuse it.
func TestGitleaksReportsAKeyShapedStringWithAWrongChecksum(t *testing.T) {
	g := NewWithT(t)
	gitleaks := gitleaksProgram(t)
	key := newKey(t).Plaintext()
	// Another last character of the checksum, over the same body.
	wrong := key[:len(key)-1] + "0"
	if strings.HasSuffix(key, "0") {
		wrong = key[:len(key)-1] + "1"
	}
	_, err := keys.Parse(wrong)
	g.Expect(err).To(MatchError(keys.ErrChecksum))

	dir := t.TempDir()
	g.Expect(os.WriteFile(filepath.Join(dir, ".env"), []byte("KEYWARD_API_KEY="+wrong+"\n"), 0o600)).To(Succeed())
	found, code := scan(t, gitleaks, dir, keywardOnly...)
	g.Expect(code).To(Equal(1))
	g.Expect(places(found)).To(ConsistOf(placement{File: ".env", Line: 1, Secret: wrong}))
}

func TestGitleaksFindsNothingWithoutAWholeKey(t *testing.T) {
	g := NewWithT(t)
	gitleaks := gitleaksProgram(t)
	key := newKey(t)
	plaintext := key.Plaintext()
	dir := t.TempDir()
	files := map[string]string{
		// What the manager, the plugin and the logs may show of a key.
		"status.yaml": "status:\n  keyID: " + key.ID() + "\n  prefix: " + keys.Prefix + key.ID() + "\n",
		"manager.log": `{"level":"info","msg":"key rotated","key":"` + key.String() + `"}` + "\n",
		// One character short: not a key, whatever it was cut from.
		"truncated.env": "KEYWARD_API_KEY=" + plaintext[:len(plaintext)-1] + "\n",
		// Placeholders in documentation.
		"README.md": "export KEYWARD_API_KEY=keyward_aaaaaaaaaaaaaaaa_" + strings.Repeat("a", 49) + "\n" +
			"export KEYWARD_API_KEY=keyward_exampleexamplexx_ExampleKeyForTheDocs0123456789ABCDEFGHIJKLMNOPQRS\n" +
			"export KEYWARD_API_KEY=keyward_abcdefghijklmnop_YourKeyGoesHere0123456789ABCDEFGHIJKLMNOPQRSTUVWX\n",
	}
	for name, content := range files {
		g.Expect(os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600)).To(Succeed())
	}
	for _, placeholder := range strings.Split(strings.TrimSpace(files["README.md"]), "\n") {
		g.Expect(placeholder).To(MatchRegexp("="+keys.ScanPattern+"$"), "a placeholder has a key's shape: the allowlist or the entropy must leave it out")
	}

	found, code := scan(t, gitleaks, dir, keywardOnly...)
	g.Expect(found).To(BeEmpty())
	g.Expect(code).To(Equal(0))
}

// Real keys are random, so none may fall under the entropy threshold or
// contain a stop word: a few hundred in one file are all reported.
func TestGitleaksReportsEveryGeneratedKey(t *testing.T) {
	g := NewWithT(t)
	gitleaks := gitleaksProgram(t)
	const n = 500
	var b strings.Builder
	var want []placement
	for i := range n {
		key := newKey(t).Plaintext()
		b.WriteString("key=" + key + "\n")
		want = append(want, placement{File: "keys.txt", Line: i + 1, Secret: key})
	}
	dir := t.TempDir()
	g.Expect(os.WriteFile(filepath.Join(dir, "keys.txt"), []byte(b.String()), 0o600)).To(Succeed())

	found, _ := scan(t, gitleaks, dir, append(keywardOnly, "--log-level", "warn")...)
	g.Expect(places(found)).To(ConsistOf(want))
	lowest := found[0].Entropy
	for _, f := range found {
		lowest = min(lowest, f.Entropy)
	}
	t.Logf("lowest entropy of %d keys: %.3f (threshold %d)", n, lowest, GitleaksEntropy)
}

func gitleaksProgram(t *testing.T) string {
	return testutil.BuiltProgram(t, "gitleaks", "KEYWARD_GITLEAKS", "gitleaks")
}

func newKey(t *testing.T) keys.Key {
	t.Helper()
	key, err := keys.Generate("")
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// writeFixture writes f with fresh keys into dir and returns where each
// key must be found.
func writeFixture(t *testing.T, dir string, f fixture) []placement {
	t.Helper()
	a, b := newKey(t).Plaintext(), newKey(t).Plaintext()
	content := f.content
	var want []placement
	for _, m := range []struct{ marker, text, secret string }{
		{"{{A}}", a, a},
		{"{{B}}", b, b},
		{"{{A64}}", base64.StdEncoding.EncodeToString([]byte(a)), a},
	} {
		i := strings.Index(content, m.marker)
		if i < 0 {
			continue
		}
		want = append(want, placement{File: f.name, Line: strings.Count(content[:i], "\n") + 1, Secret: m.secret})
		content = strings.Replace(content, m.marker, m.text, 1)
	}
	if err := os.WriteFile(filepath.Join(dir, f.name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return want
}

// scan runs `gitleaks dir` on dir with scanning/gitleaks.toml and returns
// its findings (files relative to dir) and exit code.
func scan(t *testing.T, gitleaks, dir string, args ...string) ([]finding, int) {
	t.Helper()
	config, err := filepath.Abs(GitleaksConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	return runGitleaks(t, gitleaks, dir, append([]string{"--config", config}, append(args, ".")...)...)
}

// runGitleaks runs `gitleaks dir` with args in workDir (where it looks for
// .gitleaks.toml and .gitleaksignore) and returns its findings, files
// relative to workDir, and its exit code.
func runGitleaks(t *testing.T, gitleaks, workDir string, args ...string) ([]finding, int) {
	t.Helper()
	report := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command(gitleaks, append([]string{"dir",
		"--report-format", "json", "--report-path", report,
		"--no-banner", "--no-color",
	}, args...)...)
	cmd.Dir = workDir
	out, err := cmd.CombinedOutput()
	t.Logf("gitleaks dir: %s", strings.TrimSpace(string(out)))
	code := 0
	if exitErr := (*exec.ExitError)(nil); errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("running gitleaks: %v", err)
	}
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("gitleaks wrote no report (exit code %d): %v", code, err)
	}
	var found []finding
	if err := json.Unmarshal(raw, &found); err != nil {
		t.Fatalf("gitleaks' report is not a JSON array of findings: %v", err)
	}
	for i, f := range found {
		if !filepath.IsAbs(f.File) {
			f.File = filepath.Join(workDir, f.File)
		}
		if found[i].File, err = filepath.Rel(workDir, f.File); err != nil {
			t.Fatal(err)
		}
	}
	logFindings(t, found)
	return found, code
}

// logFindings shows what gitleaks reported (with -v), each key by its ID
// only.
func logFindings(t *testing.T, found []finding) {
	t.Helper()
	const shown = 12
	for i, f := range found {
		if i == shown {
			t.Logf("... and %d more", len(found)-shown)
			break
		}
		t.Logf("finding: rule=%s file=%s line=%d key=%s entropy=%.2f", f.RuleID, f.File, f.StartLine, describeKey(f.Secret), f.Entropy)
	}
}

func describeKey(secret string) string {
	key, err := keys.Parse(secret)
	switch {
	case err == nil:
		return key.String()
	case strings.HasPrefix(secret, keys.Prefix) && len(secret) > len(keys.Prefix)+keys.IDLength:
		return secret[:len(keys.Prefix)+keys.IDLength] + "_[redacted] (" + err.Error() + ")"
	default:
		return fmt.Sprintf("[redacted: %d characters, not a keyward key]", len(secret))
	}
}

func places(found []finding) []placement {
	out := make([]placement, len(found))
	for i, f := range found {
		out[i] = placement{File: f.File, Line: f.StartLine, Secret: f.Secret}
	}
	return out
}
