package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// TestKubectlListsAUsersEnrolledKeys: the admin guide's "list a user's
// enrolled public keys", with the real kubectl, and a refusal as a person
// sees it. `go test ./webhook -run KubectlLists -v` prints the transcript.
func TestKubectlListsAUsersEnrolledKeys(t *testing.T) {
	g := NewWithT(t)
	ns := namespaceWithLabels(t, nil)
	user, err := testEnv.ControlPlane.AddUser(envtest.User{Name: "platform-engineer", Groups: []string{"system:masters"}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	kubectl, err := user.Kubectl()
	g.Expect(err).NotTo(HaveOccurred())
	run := func(args ...string) (string, error) {
		stdout, stderr, err := kubectl.Run(args...)
		out, _ := io.ReadAll(stdout)
		errOut, _ := io.ReadAll(stderr)
		text := strings.TrimSpace(string(out) + string(errOut))
		t.Logf("$ kubectl %s\n%s", strings.Join(args, " "), text)
		return text, err
	}
	apply := func(manifest string) (string, error) {
		path := filepath.Join(t.TempDir(), "keys.yaml")
		g.Expect(os.WriteFile(path, []byte(manifest), 0o600)).To(Succeed())
		t.Logf("%s", manifest)
		return run("apply", "-f", path)
	}
	pub := func() string {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(k.Public())
		return strings.ReplaceAll(strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))), "\n", "\n      ")
	}
	apiKey := func(name, owner string) string {
		return fmt.Sprintf("apiVersion: keyward.dev/v1alpha1\nkind: APIKey\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  owner: %q\n  scopes: [acme/payments/investigations:read]\n  authMethods: [ClientAssertion]\n", name, ns, owner)
	}
	signingKey := func(name, owner, apiKeyName string) string {
		return fmt.Sprintf("apiVersion: keyward.dev/v1alpha1\nkind: SigningKey\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  mode: Client\n  owner: %q\n  client:\n    apiKeyName: %s\n    publicKey: |\n      %s\n", name, ns, owner, apiKeyName, pub())
	}
	_, err = apply(apiKey("alice-key", "alice") + "---\n" + apiKey("bob-key", "bob"))
	g.Expect(err).NotTo(HaveOccurred())
	_, err = apply(signingKey("alice-laptop", "alice", "alice-key") + "---\n" + signingKey("alice-phone", "alice", "alice-key") + "---\n" + signingKey("bob-laptop", "bob", "bob-key"))
	g.Expect(err).NotTo(HaveOccurred())

	out, err := run("get", "signingkeys", "-n", ns, "--field-selector", "spec.owner=alice")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring("alice-laptop"))
	g.Expect(out).To(ContainSubstring("alice-phone"))
	g.Expect(out).NotTo(ContainSubstring("bob-laptop"))
	g.Expect(strings.Fields(strings.Split(out, "\n")[0])).To(Equal([]string{"NAME", "MODE", "OWNER", "KID", "READY", "REASON", "AGE"}))

	out, err = apply(signingKey("mallory", "alice", "bob-key"))
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(ContainSubstring(`The SigningKey "mallory" is invalid: spec.owner: Forbidden: must be "bob", the owner of APIKey bob-key`))
}
