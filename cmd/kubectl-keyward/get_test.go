package main

import (
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func TestGetListsTheNamespacesKeys(t *testing.T) {
	g := NewWithT(t)
	ns, other := namespace(t, nil), namespace(t, nil)
	alice := readyKey(t, ns, "alice-ci", "alice")
	bob := readyKey(t, ns, "bob-ci", "bob")
	elsewhere := readyKey(t, other, "carol-ci", "carol")

	res := asAdmin("get", "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	g.Expect(lines).To(HaveLen(3))
	g.Expect(strings.Fields(lines[0])).To(Equal([]string{"NAME", "OWNER", "PREFIX", "READY", "REASON", "EXPIRES", "AGE"}))
	g.Expect(strings.Fields(lines[1])[:6]).To(Equal([]string{"alice-ci", "alice", alice.Status.Prefix, "True", keywardv1.KeyReadyReason, "<none>"}))
	g.Expect(res.stdout).To(ContainSubstring(bob.Status.Prefix))
	g.Expect(res.stdout).NotTo(ContainSubstring(elsewhere.Name))

	res = asAdmin("list", "-n", ns, "--owner", "bob")
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(ContainSubstring("bob-ci"))
	g.Expect(res.stdout).NotTo(ContainSubstring("alice-ci"))

	res = asAdmin("list", "-n", ns, "--prefix", alice.Status.Prefix, "-o", "name")
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(Equal("apikey.keyward.dev/alice-ci\n"))

	res = asAdmin("get", "-A", "--prefix", elsewhere.Status.Prefix)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(strings.Fields(strings.Split(res.stdout, "\n")[0])[0]).To(Equal("NAMESPACE"))
	g.Expect(res.stdout).To(ContainSubstring(other + "   carol-ci"))

	res = asAdmin("get", "-n", ns, "-o", "wide")
	g.Expect(res.stdout).To(ContainSubstring("SECRET"))
	g.Expect(res.stdout).To(ContainSubstring("NEXT-ROTATION"))
}

func TestGetOneKeyAsYAMLAndJSON(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	k := readyKey(t, ns, "alice-ci", "alice")

	res := asAdmin("get", k.Status.Prefix, "-n", ns, "-o", "json")
	g.Expect(res.code).To(Equal(0), res.stderr)
	var got keywardv1.APIKey
	g.Expect(json.Unmarshal([]byte(res.stdout), &got)).To(Succeed())
	g.Expect(got.Kind).To(Equal("APIKey"))
	g.Expect(got.APIVersion).To(Equal(keywardv1.GroupVersion.String()))
	g.Expect(got.UID).To(Equal(k.UID))

	res = asAdmin("get", k.Status.KeyID, "-n", ns, "-o", "yaml")
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(ContainSubstring("kind: APIKey"))
	g.Expect(res.stdout).To(ContainSubstring("prefix: " + k.Status.Prefix))

	res = asAdmin("get", "-n", ns, "-o", "toml")
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring(`unknown output format "toml"`))
}

func TestGetEmptyNamespacePrintsNothing(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	res := asAdmin("get", "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(BeEmpty())
	g.Expect(res.stderr).To(Equal("No APIKeys found in " + ns + " namespace.\n"))
}
