package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// The samples are what `make run-local` and the README's first steps apply
// (kubectl apply -f config/samples/): the webhook must admit them as they
// are, in the order kubectl applies them, by file name. Under the default
// --default-policy=deny a key is refused until a KeyPolicy selects its
// namespace, so the KeyPolicy comes first.
func TestSamplesAreAdmitted(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	var objs []*unstructured.Unstructured
	dir := filepath.Join("..", "config", "samples")
	files, err := os.ReadDir(dir)
	g.Expect(err).NotTo(HaveOccurred())
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		g.Expect(err).NotTo(HaveOccurred())
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else {
				g.Expect(err).NotTo(HaveOccurred())
			}
			if u.GetNamespace() == "" && u.GetKind() == "APIKey" {
				u.SetNamespace("default")
			}
			objs = append(objs, u)
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
