package e2e

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// The install keeps the manager's and the verifier's namespaces apart: the
// verifier may read every Secret of its own namespace, and none of the
// manager's (the webhook's serving certificate, the leader-election
// Lease). Asked of the cluster's authorizer, for the verifier's real
// ServiceAccount, and checked against what the namespaces hold.
func TestTheVerifierCannotReachTheManagersNamespace(t *testing.T) {
	g := NewWithT(t)
	samples(t)
	verifierSA := "system:serviceaccount:" + verifierNS + ":keyward-verifier"
	g.Expect(jsonpath(g, "{.spec.template.spec.serviceAccountName}", "-n", verifierNS, "get", "deployment", "keyward-verifier")).
		To(Equal("keyward-verifier"))
	must(t, "-n", systemNS, "get", "secret", "keyward-webhook-server-cert")
	must(t, "-n", systemNS, "get", "lease", leaseName)

	canI := func(args ...string) string {
		out, _ := kubectl(append([]string{"auth", "can-i", "--as=" + verifierSA}, args...)...)
		return strings.TrimSpace(out)
	}
	for _, denied := range [][]string{
		{"get", "secret/keyward-webhook-server-cert", "-n", systemNS},
		{"list", "secrets", "-n", systemNS},
		{"get", "lease/" + leaseName, "-n", systemNS},
		{"update", "lease/" + leaseName, "-n", systemNS},
		{"get", "secrets", "-n", verifierNS},
		{"create", "secrets", "-n", verifierNS},
		{"list", "configmaps", "-n", verifierNS},
		{"create", "events", "-n", verifierNS},
	} {
		g.Expect(canI(denied...)).To(Equal("no"), "the verifier may %s", strings.Join(denied, " "))
	}
	for _, allowed := range [][]string{
		{"list", "secrets", "-n", verifierNS},
		{"watch", "secrets", "-n", verifierNS},
		{"create", "configmaps", "-n", verifierNS},
		{"patch", "configmaps", "-n", verifierNS},
	} {
		g.Expect(canI(allowed...)).To(Equal("yes"), "the verifier may not %s", strings.Join(allowed, " "))
	}

	// What the verifier can read is keyward's records and signing keys,
	// and its own serving certificate (config/e2e: --verifier-tls=self-managed).
	types := strings.Fields(jsonpath(g, "{.items[*].type}", "-n", verifierNS, "get", "secrets"))
	g.Expect(types).NotTo(BeEmpty())
	for _, typ := range types {
		g.Expect(typ).To(BeElementOf("keyward.dev/key-record", "keyward.dev/signing-key", "kubernetes.io/tls"), "a Secret of type %s in the verifier namespace", typ)
	}
	g.Expect(jsonpath(g, "{.type}", "-n", verifierNS, "get", "secret", verifierTLSSecret)).To(Equal("kubernetes.io/tls"))
}
