package main

import (
	"context"
	"sort"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func TestAKeyIsFoundByNamePrefixOrKeyID(t *testing.T) {
	ns := namespace(t, nil)
	k := readyKey(t, ns, "alice-ci", "alice")
	for _, arg := range []string{k.Name, k.Status.Prefix, k.Status.KeyID} {
		t.Run(arg, func(t *testing.T) {
			g := NewWithT(t)
			res := asAdmin("get", arg, "-n", ns, "-o", "name")
			g.Expect(res.code).To(Equal(0), res.stderr)
			g.Expect(res.stdout).To(Equal("apikey.keyward.dev/alice-ci\n"))
		})
	}
}

func TestUnknownPrefixOrKeyIDIsRefused(t *testing.T) {
	ns := namespace(t, nil)
	readyKey(t, ns, "alice-ci", "alice")
	for _, tc := range []struct{ arg, want string }{
		{"alice/aaaaaaaaaaaaaaaa", `no APIKey with prefix "alice/aaaaaaaaaaaaaaaa" in namespace "` + ns + `"`},
		{"aaaaaaaaaaaaaaaa", `no APIKey with name or key ID "aaaaaaaaaaaaaaaa" in namespace "` + ns + `"`},
		{"Not_A_Name", `no APIKey with name or key ID "Not_A_Name"`},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			g := NewWithT(t)
			res := asAdmin("describe", tc.arg, "-n", ns)
			g.Expect(res.code).To(Equal(1))
			g.Expect(res.stderr).To(ContainSubstring(tc.want))
			g.Expect(res.stdout).To(BeEmpty())
		})
	}
}

// Two keys answering to one prefix happen only after damage (a status
// restored from a backup onto another APIKey: the manager then marks one
// KeyIDConflict and touches neither). The plugin must not pick one.
func TestAPrefixMatchingTwoKeysIsRefusedNamingBoth(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	first := readyKey(t, ns, "first", "alice")
	second := readyKey(t, ns, "second", "alice")
	second.Status.KeyID, second.Status.Prefix = first.Status.KeyID, first.Status.Prefix
	g.Expect(admin.Status().Update(context.Background(), second)).To(Succeed())

	g.Eventually(func(g Gomega) {
		res := asAdmin("revoke", first.Status.Prefix, "-n", ns, "--yes")
		g.Expect(res.code).To(Equal(1))
		g.Expect(res.stderr).To(ContainSubstring(`prefix "` + first.Status.Prefix + `" matches 2 APIKeys in namespace "` + ns + `": first, second; name one of them`))
	}, waitFor).Should(Succeed())
	res := asAdmin("revoke", first.Status.KeyID, "-n", ns, "--yes")
	g.Expect(res.stderr).To(ContainSubstring(`name or key ID "` + first.Status.KeyID + `" matches 2 APIKeys`))
	g.Expect(getKey(t, ns, "first").Spec.Revoked).To(BeFalse())
	g.Expect(getKey(t, ns, "second").Spec.Revoked).To(BeFalse())
}

// A tenant names an APIKey after a victim's key ID, hoping that
// `kubectl keyward revoke <keyID>` hits the decoy instead (or, the other
// way round, that a command meant for the decoy hits the victim).
func TestAKeyNamedAfterAnotherKeysIDIsAmbiguous(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	victim := readyKey(t, ns, "victim", "alice")
	readyKey(t, ns, victim.Status.KeyID, "mallory")

	res := asAdmin("revoke", victim.Status.KeyID, "-n", ns, "--yes")
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring("matches 2 APIKeys"))
	names := []string{"victim", victim.Status.KeyID}
	sort.Strings(names)
	g.Expect(res.stderr).To(ContainSubstring(": " + strings.Join(names, ", ") + "; name one of them"))
	g.Expect(getKey(t, ns, "victim").Spec.Revoked).To(BeFalse())
	g.Expect(getKey(t, ns, victim.Status.KeyID).Spec.Revoked).To(BeFalse())
}

// A label is no way in: anyone who edits an APIKey sets its labels, and
// the plugin never looks at them.
func TestALabelCannotClaimAPrefix(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	victim := readyKey(t, ns, "victim", "alice")
	readyKey(t, ns, "decoy", "alice", func(k *keywardv1.APIKey) {
		k.Labels = map[string]string{"keyward.dev/prefix": "alice." + victim.Status.KeyID, "keyward.dev/key-id": victim.Status.KeyID}
	})
	res := asAdmin("get", victim.Status.Prefix, "-n", ns, "-o", "name")
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(Equal("apikey.keyward.dev/victim\n"))
}

// The plugin looks in one namespace: a key of another is "not found
// here", whether the user may read it there or not, and the refusal names
// nothing of the other namespace.
func TestAKeyOfAnotherNamespaceIsNotFoundHere(t *testing.T) {
	ns, other := namespace(t, nil), namespace(t, nil)
	theirs := readyKey(t, other, "theirs", "bob")
	user := tenant(t, "tenant-"+ns, ns)
	for _, who := range []struct{ name, kubeconfig string }{{"admin", adminKubeconfig}, {"tenant", user}} {
		for _, arg := range []string{theirs.Status.Prefix, theirs.Status.KeyID, theirs.Name} {
			t.Run(who.name+"/"+arg, func(t *testing.T) {
				g := NewWithT(t)
				res := plugin(who.kubeconfig, "", "revoke", arg, "-n", ns, "--yes")
				g.Expect(res.code).To(Equal(1))
				g.Expect(res.stderr).To(ContainSubstring(`in namespace "` + ns + `" (a key of another namespace is not found here: pass --namespace)`))
				g.Expect(res.stderr).NotTo(ContainSubstring(other))
			})
		}
	}
	g := NewWithT(t)
	g.Expect(getKey(t, other, "theirs").Spec.Revoked).To(BeFalse())
	// And the tenant's own view of the other namespace is RBAC's answer.
	res := plugin(user, "", "get", "-n", other)
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring("forbidden"))
}
