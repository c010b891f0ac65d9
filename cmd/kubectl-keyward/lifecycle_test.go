package main

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func TestRotateIssuesANewSecret(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	k := readyKey(t, ns, "alice-ci", "alice")
	before := deliveredKey(t, k)

	res := asAdmin("rotate", k.Status.Prefix, "-n", ns, "--yes")
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(BeEmpty())
	g.Expect(res.stderr).To(ContainSubstring("apikey/alice-ci rotated: secret generation 2"))

	after := getKey(t, ns, "alice-ci")
	g.Expect(after.Status.SecretGeneration).To(BeEquivalentTo(2))
	g.Expect(after.Status.KeyID).To(Equal(k.Status.KeyID), "a rotation keeps the key ID")
	g.Expect(deliveredKey(t, after)).NotTo(Equal(before))
	g.Expect(after.Annotations).To(HaveKey(keywardv1.RotateAnnotation))
	g.Expect(managers(after)).To(ContainElement(FieldManager))
}

func TestSuspendAndResume(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	k := readyKey(t, ns, "alice-ci", "alice")

	res := asAdmin("suspend", k.Status.KeyID, "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(getKey(t, ns, k.Name).Spec.Suspended).To(BeTrue())
	g.Eventually(func() string {
		ready := meta.FindStatusCondition(getKey(t, ns, k.Name).Status.Conditions, keywardv1.ReadyCondition)
		return ready.Reason
	}, waitFor).Should(Equal(keywardv1.SuspendedReason))

	res = asAdmin("suspend", k.Name, "-n", ns)
	g.Expect(res.code).To(Equal(0))
	g.Expect(res.stderr).To(ContainSubstring("already suspended"))

	res = asAdmin("resume", k.Status.Prefix, "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(getKey(t, ns, k.Name).Spec.Suspended).To(BeFalse())
	waitIssued(t, ns, k.Name)
}

func TestRevokeAsksFirst(t *testing.T) {
	ns := namespace(t, nil)
	k := readyKey(t, ns, "alice-ci", "alice")
	asked := getKey(t, ns, k.Name)
	for _, answer := range []string{"n\n", "\n", "", "yes please\n"} {
		t.Run("answer "+answer, func(t *testing.T) {
			g := NewWithT(t)
			res := plugin(adminKubeconfig, answer, "revoke", k.Status.Prefix, "-n", ns)
			g.Expect(res.code).To(Equal(1))
			g.Expect(res.stderr).To(ContainSubstring("Revoke apikey/alice-ci (prefix " + k.Status.Prefix + ") in namespace " + ns + "? This cannot be undone. [y/N]: "))
			g.Expect(res.stderr).To(ContainSubstring("not confirmed: nothing changed"))
			after := getKey(t, ns, k.Name)
			g.Expect(after.Spec.Revoked).To(BeFalse())
			// The manager may still write status; the plugin wrote nothing.
			g.Expect(after.Generation).To(Equal(asked.Generation))
			g.Expect(after.Annotations).To(Equal(asked.Annotations))
			g.Expect(managers(after)).NotTo(ContainElement(FieldManager))
		})
	}
	g := NewWithT(t)
	res := plugin(adminKubeconfig, "y\n", "revoke", k.Status.Prefix, "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(getKey(t, ns, k.Name).Spec.Revoked).To(BeTrue())
	g.Eventually(func() *keywardv1.APIKey { return getKey(t, ns, k.Name) }, waitFor).Should(
		WithTransform(func(k *keywardv1.APIKey) bool {
			return meta.IsStatusConditionTrue(k.Status.Conditions, keywardv1.RevokedCondition)
		}, BeTrue()))

	for _, cmd := range []string{"resume", "suspend", "rotate"} {
		res = asAdmin(cmd, k.Name, "-n", ns)
		g.Expect(res.code).To(Equal(1), cmd)
		g.Expect(res.stderr).To(ContainSubstring("apikey/alice-ci is revoked"), cmd)
	}
	res = asAdmin("revoke", k.Name, "-n", ns, "--yes")
	g.Expect(res.code).To(Equal(0))
	g.Expect(res.stderr).To(ContainSubstring("already revoked"))
}

func TestDeleteAsksFirst(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	k := readyKey(t, ns, "alice-ci", "alice")

	res := plugin(adminKubeconfig, "n\n", "delete", k.Status.KeyID, "-n", ns)
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring("Delete apikey/alice-ci"))
	g.Expect(res.stderr).To(ContainSubstring("not confirmed: nothing changed"))
	g.Expect(getKey(t, ns, k.Name).DeletionTimestamp).To(BeNil())

	res = asAdmin("delete", k.Status.KeyID, "-n", ns, "--yes")
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stderr).To(ContainSubstring("apikey/alice-ci deleted"))
	g.Eventually(func() bool {
		err := admin.Get(context.Background(), client.ObjectKeyFromObject(k), &keywardv1.APIKey{})
		return apierrors.IsNotFound(err)
	}, waitFor).Should(BeTrue())
}

// The plugin does what the user's RBAC allows, as the user: a namespace
// editor creates, reads the key of, rotates and revokes keys there.
func TestANamespaceEditorManagesKeysWithTheirOwnCredentials(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	user := tenant(t, "editor-"+ns, ns)

	res := plugin(user, "", "create", "team-key", "-n", ns, "--owner", "alice", "--scope", "acme/payments/invoices:read")
	g.Expect(res.code).To(Equal(0), res.stderr)
	k := getKey(t, ns, "team-key")
	g.Expect(res.stdout).To(Equal(deliveredKey(t, k) + "\n"))
	g.Expect(plugin(user, "", "rotate", k.Status.Prefix, "-n", ns, "--yes").code).To(Equal(0))
	g.Expect(plugin(user, "y\n", "revoke", k.Status.Prefix, "-n", ns).code).To(Equal(0))
	g.Expect(getKey(t, ns, "team-key").Spec.Revoked).To(BeTrue())
}

// Between resolving a key and patching it, the name may come to belong to
// another APIKey: the patch names the resolved key's UID and changes
// nothing of the new one.
func TestAPatchNeverLandsOnAKeyReCreatedUnderTheSameName(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t, nil)
	resolved := readyKey(t, ns, "alice-ci", "alice")
	g.Expect(admin.Delete(ctx, resolved)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(admin.Get(ctx, client.ObjectKeyFromObject(resolved), &keywardv1.APIKey{}))
	}, waitFor).Should(BeTrue())
	readyKey(t, ns, "alice-ci", "alice")

	err := patchKey(ctx, admin, resolved, func(k *keywardv1.APIKey) { k.Spec.Revoked = true })
	g.Expect(err).To(MatchError("apikey/alice-ci was deleted and created again after it was looked up: nothing changed; run the command again to act on the new one"))
	g.Expect(getKey(t, ns, "alice-ci").Spec.Revoked).To(BeFalse())
}
