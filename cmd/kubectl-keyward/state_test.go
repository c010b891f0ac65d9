package main

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// A key keyward denies for a reason its own spec does not show (here its
// parent is suspended) is not "Active", and resume says why it cannot help.
func TestDescribeAndResumeTellWhyAKeyIsDenied(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t, nil)
	parent := readyKey(t, ns, "alice-parent", "alice")
	readyKey(t, ns, "alice-child", "alice", func(k *keywardv1.APIKey) {
		k.Spec.Parent = &keywardv1.ParentReference{Name: parent.Name}
	})
	parent = getKey(t, ns, parent.Name)
	parent.Spec.Suspended = true
	g.Expect(admin.Update(ctx, parent)).To(Succeed())
	g.Eventually(func() string {
		ready := meta.FindStatusCondition(getKey(t, ns, "alice-child").Status.Conditions, keywardv1.ReadyCondition)
		return ready.Reason
	}, waitFor).Should(Equal(keywardv1.ParentSuspendedReason))

	res := asAdmin("describe", "alice-child", "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(MatchRegexp(`(?m)^State:\s+ParentSuspended \(not verifying\)$`))

	res = asAdmin("resume", "alice-child", "-n", ns)
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring("apikey/alice-child is not suspended in spec, but keyward denies it: ParentSuspended: "))
	g.Expect(res.stderr).NotTo(ContainSubstring("is not suspended\n"))
}

// With no grace period a rotation refuses the current secret at once:
// rotate asks, says so, and changes nothing unless told yes.
func TestRotateAsksFirstAndSaysWhenTheSecretStops(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	k := readyKey(t, ns, "alice-ci", "alice", func(k *keywardv1.APIKey) {
		k.Spec.Rotation = &keywardv1.Rotation{GracePeriodSeconds: ptr.To[int64](0)}
	})

	res := plugin(adminKubeconfig, "n\n", "rotate", k.Status.Prefix, "-n", ns)
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring("Rotate apikey/alice-ci (prefix " + k.Status.Prefix + ") in namespace " + ns + "? The current secret stops verifying AT ONCE (grace period 0)"))
	g.Expect(res.stderr).To(ContainSubstring("not confirmed: nothing changed"))
	after := getKey(t, ns, k.Name)
	g.Expect(after.Annotations).NotTo(HaveKey(keywardv1.RotateAnnotation))
	g.Expect(after.Status.SecretGeneration).To(BeEquivalentTo(1))

	res = plugin(adminKubeconfig, "y\n", "rotate", k.Status.Prefix, "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(getKey(t, ns, k.Name).Status.SecretGeneration).To(BeEquivalentTo(2))

	other := readyKey(t, ns, "alice-graceful", "alice")
	res = plugin(adminKubeconfig, "n\n", "rotate", other.Name, "-n", ns)
	g.Expect(res.stderr).To(ContainSubstring("The current secret stops verifying 1h0m0s after the new one is issued"))
}
