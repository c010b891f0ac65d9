package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// Deadlines of Eventually: long enough for a cold pod start and a PBKDF2
// hash on a loaded two-core machine.
const (
	timeout  = 2 * time.Minute
	interval = 500 * time.Millisecond
)

// kubectl runs the real kubectl (KUBECONFIG comes from `make e2e`) and
// returns its standard output; the error carries standard error.
func kubectl(args ...string) (string, error) {
	return kubectlIn("", args...)
}

func kubectlIn(stdin string, args ...string) (string, error) {
	cmd := exec.Command("kubectl", args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// must runs kubectl and fails the test on an error.
func must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectl(args...)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return out
}

// jsonpath reads one field; an Eventually retries it.
func jsonpath(g Gomega, path string, args ...string) string {
	out, err := kubectl(append(args, "-o", "jsonpath="+path)...)
	g.Expect(err).NotTo(HaveOccurred())
	return out
}

// deliveredKey reads a key from its delivery Secret in "default", as its
// consumer would. It is never logged.
func deliveredKey(g Gomega, secret, field string) string {
	return deliveredKeyIn(g, "default", secret, field)
}

func deliveredKeyIn(g Gomega, ns, secret, field string) string {
	enc := jsonpath(g, "{.data."+field+"}", "get", "secret", secret, "-n", ns)
	plain, err := base64.StdEncoding.DecodeString(enc)
	g.Expect(err).NotTo(HaveOccurred())
	return string(plain)
}

// The sample KeyPolicy's ceiling: every key in "default" needs a limit at
// least this strict.
const withinTheCeiling = `  rateLimit:
    limits:
      - {name: per-second, strategy: TokenBucket, limit: 100, periodSeconds: 1, burst: 200}
`

// openNS is a namespace whose KeyPolicy (openPolicy) sets no rules: its
// keys need no rate limit. The manager runs with its defaults, so a
// namespace no KeyPolicy selects admits no keys at all.
const openNS = "keyward-e2e"

// openPolicy selects openNS and requires nothing.
const openPolicy = `apiVersion: keyward.dev/v1alpha1
kind: KeyPolicy
metadata:
  name: keyward-e2e-open
spec:
  namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: ` + openNS + `
---
`

// applyKey creates an APIKey in the namespace "default" the sample
// KeyPolicy governs, and waits until it is Ready.
func applyKey(t *testing.T, name string) {
	t.Helper()
	applyKeyIn(t, "default", name, withinTheCeiling)
}

// applyKeyIn creates an APIKey that may read investigations from 10/8 in
// namespace ns, creating it if need be, and the KeyPolicy that admits it
// (policyFor), with extra spec lines, and waits until it is Ready. kubectl
// applies the documents in order, the KeyPolicy before the key.
func applyKeyIn(t *testing.T, ns, name, extraSpec string) {
	t.Helper()
	manifest := policyFor(t, ns) + fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: keyward.dev/v1alpha1
kind: APIKey
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  owner: e2e
  description: end-to-end test key
  scopes: [acme/payments/investigations:read]
  conditions:
    sourceCIDRs: [10.0.0.0/8]
  expiration:
    afterDays: 30
%[3]s`, ns, name, extraSpec)
	// Through the webhook, which a test run alone may reach before the
	// manager serves it.
	NewWithT(t).Eventually(func() error {
		_, err := kubectlIn(manifest, "apply", "-f", "-")
		return err
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	waitReadyIn(t, ns, "apikey/"+name)
}

// policyFor is the KeyPolicy that admits the test's keys in ns, so that
// every test runs alone too: the sample KeyPolicy for "default", the open
// one for openNS.
func policyFor(t *testing.T, ns string) string {
	t.Helper()
	switch ns {
	case "default":
		b, err := os.ReadFile("../../config/samples/00_keyward_v1alpha1_keypolicy.yaml")
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		return string(b) + "---\n"
	case openNS:
		return openPolicy
	}
	return ""
}

func waitReady(t *testing.T, what string) {
	t.Helper()
	waitReadyIn(t, "default", what)
}

func waitReadyIn(t *testing.T, ns, what string) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(jsonpath(g, `{.status.conditions[?(@.type=="Ready")].status}`, "get", what, "-n", ns)).To(Equal("True"))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}
