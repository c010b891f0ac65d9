package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
)

// revealAgainst runs reveal for a key shown once against an API server
// where, once the plugin has set its annotation, only happen does
// anything (no manager runs), and returns its stderr and error.
func revealAgainst(t *testing.T, happen func(ctx context.Context, c client.WithWatch, k *keywardv1.APIKey, s *corev1.Secret)) (string, error) {
	t.Helper()
	g := NewWithT(t)
	id, err := keys.NewID()
	g.Expect(err).NotTo(HaveOccurred())
	key, err := keys.Generate(id)
	g.Expect(err).NotTo(HaveOccurred())
	k := &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "once", UID: "uid-once"},
		Spec:       keywardv1.APIKeySpec{Owner: "alice", Delivery: &keywardv1.Delivery{RevealOnce: true}},
		Status:     keywardv1.APIKeyStatus{KeyID: id, SecretName: "once", SecretGeneration: 1},
	}
	controller := true
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "once",
			Annotations:     map[string]string{serialAnnotation: "3f9c2a7d51e08b64", generationAnnotation: "1"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: keywardv1.GroupVersion.String(), Kind: "APIKey", Name: "once", UID: k.UID, Controller: &controller}},
		},
		Data: map[string][]byte{deliveryKeyField: []byte(key.Plaintext()), "keyID": []byte(id)},
	}
	scheme := runtime.NewScheme()
	g.Expect(keywardv1.AddToScheme(scheme)).To(Succeed())
	g.Expect(corev1.AddToScheme(scheme)).To(Succeed())
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(k.DeepCopy(), secret.DeepCopy()).WithStatusSubresource(k).
		WithInterceptorFuncs(interceptor.Funcs{Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if err := c.Patch(ctx, obj, patch, opts...); err != nil {
				return err
			}
			if got, ok := obj.(*keywardv1.APIKey); ok {
				g.Expect(got.Annotations).To(HaveKeyWithValue(keywardv1.RevealedAnnotation, "3f9c2a7d51e08b64"), "the request names the serial printed")
				happen(ctx, c, got, secret)
			}
			return nil
		}}).Build()
	var out, errOut bytes.Buffer
	r := &Root{Streams: genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}}
	err = reveal(context.Background(), r, c, k, time.Second)
	g.Expect(out.String()).To(Equal(key.Plaintext()+"\n"), "the key is printed first, whatever follows")
	return errOut.String(), err
}

// emptySecret is what anyone who may edit the namespace can do.
func emptySecret(ctx context.Context, c client.WithWatch, s *corev1.Secret) {
	var now corev1.Secret
	if err := c.Get(ctx, client.ObjectKeyFromObject(s), &now); err == nil {
		delete(now.Data, deliveryKeyField)
		_ = c.Update(ctx, &now)
	}
}

func setStatus(ctx context.Context, c client.WithWatch, k *keywardv1.APIKey, change func(*keywardv1.APIKeyStatus)) {
	var now keywardv1.APIKey
	if err := c.Get(ctx, client.ObjectKeyFromObject(k), &now); err == nil {
		change(&now.Status)
		_ = c.Status().Update(ctx, &now)
	}
}

func TestRevealDecidesFromStatusNotFromTheSecret(t *testing.T) {
	t.Run("the Secret emptied by someone else, nothing recorded", func(t *testing.T) {
		_, err := revealAgainst(t, func(ctx context.Context, c client.WithWatch, _ *keywardv1.APIKey, s *corev1.Secret) {
			emptySecret(ctx, c, s)
		})
		NewWithT(t).Expect(err).To(MatchError(ContainSubstring("keyward did not record the reveal in the status of apikey/once within 1s")))
	})
	t.Run("a rotation replaced the key printed", func(t *testing.T) {
		_, err := revealAgainst(t, func(ctx context.Context, c client.WithWatch, k *keywardv1.APIKey, s *corev1.Secret) {
			emptySecret(ctx, c, s)
			setStatus(ctx, c, k, func(st *keywardv1.APIKeyStatus) { st.SecretGeneration = 2 })
		})
		NewWithT(t).Expect(err).To(MatchError(ContainSubstring("the key printed (generation 1) was replaced by generation 2 while it was read: keyward no longer delivers it")))
	})
	t.Run("keyward recorded the reveal", func(t *testing.T) {
		stderr, err := revealAgainst(t, func(ctx context.Context, c client.WithWatch, k *keywardv1.APIKey, s *corev1.Secret) {
			setStatus(ctx, c, k, func(st *keywardv1.APIKeyStatus) {
				st.Delivery = &keywardv1.DeliveryStatus{RevealedTime: &metav1.Time{Time: time.Now()}}
			})
		})
		g := NewWithT(t)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(stderr).To(ContainSubstring("the key was revealed"))
	})
}
