package webhook

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The refusals as a person sees them: the real kubectl against the real
// API server and this webhook. `go test ./webhook -run Kubectl -v` prints
// the transcript.
func TestKubectlShowsTheRefusalsAndWarnings(t *testing.T) {
	g := NewWithT(t)
	ns, _ := policyNamespace(t)
	plain := namespaceWithLabels(t, nil)
	user, err := testEnv.ControlPlane.AddUser(envtest.User{Name: "platform-engineer", Groups: []string{"system:masters"}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	kubectl, err := user.Kubectl()
	g.Expect(err).NotTo(HaveOccurred())
	var out string
	apply := func(manifest string, args ...string) (string, error) {
		path := filepath.Join(t.TempDir(), "apikey.yaml")
		g.Expect(os.WriteFile(path, []byte(manifest), 0o600)).To(Succeed())
		stdout, stderr, err := kubectl.Run(append([]string{"apply", "-f", path}, args...)...)
		out, _ := io.ReadAll(stdout)
		errOut, _ := io.ReadAll(stderr)
		text := strings.TrimSpace(string(out) + string(errOut))
		t.Logf("$ kubectl apply -f apikey.yaml %s\n%s\n%s", strings.Join(args, " "), manifest, text)
		return text, err
	}
	manifest := func(namespace, name, spec string) string {
		return fmt.Sprintf("apiVersion: keyward.dev/v1alpha1\nkind: APIKey\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  owner: \"15a6\"\n%s", name, namespace, spec)
	}

	out, err = apply(manifest(ns, "too-much", `  scopes:
  - acme/hr/users:read
  - acme/payments/evidence:delete
  expiration:
    afterDays: 365
`))
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(ContainSubstring(`The APIKey "too-much" is invalid`))
	g.Expect(out).To(ContainSubstring(`spec.scopes[0]: Forbidden: scope "acme/hr/users:read" is not allowed by KeyPolicy`))
	g.Expect(out).To(ContainSubstring(`spec.scopes[1]: Forbidden: scope "acme/payments/evidence:delete" grants delete`))
	g.Expect(out).To(ContainSubstring(`spec.expiration: Forbidden: a lifetime of 365 days is longer than the 90 days`))

	out, err = apply(manifest(ns, "auditor", "  role: auditor\n  expiration:\n    afterDays: 30\n"))
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(ContainSubstring(`spec.role: Forbidden: role "auditor" is not defined by any KeyPolicy that applies to this namespace (roles defined: analyst)`))

	out, err = apply(manifest(ns, "analyst", "  role: analyst\n  expiration:\n    afterDays: 30\n"), "--dry-run=server")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring("created (server dry run)"))
	g.Expect(auditLines.String()).NotTo(ContainSubstring(`"name":"analyst"`), "a dry run leaves no audit line")

	ceilingNS, _ := ceilingNamespace(t)
	out, err = apply(manifest(ceilingNS, "too-fast", `  scopes:
  - acme/payments/investigations:read
  expiration:
    afterDays: 30
  rateLimit:
    limits:
    - name: per-second
      strategy: SlidingWindow
      limit: 1000
      periodSeconds: 1
`))
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(ContainSubstring(`spec.rateLimit.limits: Forbidden: KeyPolicy "ceiling-` + ceilingNS + `" requires a rate limit of at most 100 per 1s (at most 200 at once); this key has none that strict`))

	// Delegation: a parent, two children it cannot have, and a cycle.
	out, err = apply(manifest(plain, "org", `  scopes:
  - acme/payments/investigations:admin
  conditions:
    sourceCIDRs: [10.0.0.0/8]
  expiration:
    afterDays: 60
`))
	g.Expect(err).NotTo(HaveOccurred(), out)
	out, err = apply(manifest(plain, "too-broad", `  parent: {name: org}
  scopes:
  - acme/payments/evidence:read
  conditions:
    sourceCIDRs: [10.1.0.0/16]
  expiration:
    afterDays: 30
`))
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(ContainSubstring(`spec.scopes[0]: Forbidden: scope "acme/payments/evidence:read" is broader than parent key "org" allows (parent scopes: acme/payments/investigations:admin)`))
	out, err = apply(manifest(plain, "outliving", `  parent: {name: org}
  scopes:
  - acme/payments/investigations:read
  conditions:
    sourceCIDRs: [10.1.0.0/16]
  expiration:
    afterDays: 80
`))
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(MatchRegexp(`spec.expiration: Forbidden: expiry \S+ is later than parent key "org"'s`))
	out, err = apply(manifest(plain, "team", "  parent: {name: org}\n  scopes:\n  - acme/payments/investigations:read\n  conditions:\n    sourceCIDRs: [10.1.0.0/16]\n  expiration:\n    afterDays: 30\n"))
	g.Expect(err).NotTo(HaveOccurred(), out)
	_, _, err = kubectl.Run("delete", "apikey", "org", "-n", plain)
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("$ kubectl delete apikey org")
	out, err = apply(manifest(plain, "org", "  parent: {name: team}\n  scopes:\n  - acme/payments/investigations:read\n"))
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(ContainSubstring(`spec.parent.name: Invalid value: "team": the chain of parent keys leads back to this key`))

	out, err = apply(manifest(plain, "forever", "  scopes:\n  - acme/*/users:read\n"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring("Warning: spec.expiration is not set: this key never expires"))
	g.Expect(out).To(ContainSubstring(`Warning: scope "acme/*/users:read" applies to every project`))
	g.Expect(out).To(ContainSubstring("apikey.keyward.dev/forever created"))
	g.Expect(auditLines.String()).To(MatchRegexp(`"action":"admitted_create".*"name":"forever".*"actor":"platform-engineer"`),
		"the audit line names the user who applied the key")
}
