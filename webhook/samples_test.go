package webhook

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// The samples are what `make run-local` and the README's first steps apply
// (kubectl apply -f config/samples/): the webhook must admit them as they
// are, in the order kubectl applies them, by file name. Under the default
// --default-policy=deny a key is refused until a KeyPolicy selects its
// namespace, so the KeyPolicy comes first.
func TestSamplesAreAdmitted(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	objs, err := testutil.Samples()
	g.Expect(err).NotTo(HaveOccurred())
	for _, u := range objs {
		if u.GetKind() == "APIKey" {
			u.SetNamespace("default")
		}
	}
	g.Expect(objs).To(HaveLen(4))
	g.Expect(objs[0].GetKind()).To(Equal("KeyPolicy"), "kubectl applies the KeyPolicy before the keys it admits")
	for _, u := range objs {
		g.Expect(k8s.Create(ctx, u)).To(Succeed(), "%s %s", u.GetKind(), u.GetName())
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), u) })
		if u.GetKind() == "KeyPolicy" {
			g.Eventually(func() error { return cached.Get(ctx, client.ObjectKey{Name: u.GetName()}, &keywardv1.KeyPolicy{}) }).Should(Succeed())
		}
	}
}
