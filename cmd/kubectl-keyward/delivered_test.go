package main

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
)

// mallory may edit the namespace. While the administrator's `create`
// waits, she deletes the new APIKey and creates her own of the same name
// and Secret: create must not print her key as the administrator's.
func TestCreateNeverPrintsTheKeyOfAnObjectItDidNotMake(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t, nil)
	// A Secret of the delivery's name that is not keyward's keeps the
	// administrator's key from being issued while mallory acts.
	squatter := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payments-key"}}
	g.Expect(admin.Create(ctx, squatter)).To(Succeed())

	swapped := make(chan error, 1)
	go func() { swapped <- swapKeyAsMallory(ctx, ns, "payments-api", squatter) }()

	res := asAdmin("create", "payments-api", "-n", ns, "--owner", "alice",
		"--scope", "acme/payments/invoices:read", "--secret-name", "payments-key", "--timeout", "40s")
	g.Expect(<-swapped).To(Succeed())
	g.Expect(res.stdout).To(BeEmpty(), "mallory's key is not printed as the administrator's")
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stderr).To(ContainSubstring("apikey/payments-api (UID "))
	g.Expect(res.stderr).To(ContainSubstring("was deleted, or deleted and created again, while waiting"))
}

// swapKeyAsMallory waits for the APIKey name to exist, deletes it (taking
// off keyward's finalizer, as an editor may) and the squatting Secret, and
// creates her own key under the same name, delivered to the same Secret.
func swapKeyAsMallory(ctx context.Context, ns, name string, squatter *corev1.Secret) error {
	var k keywardv1.APIKey
	err := pollUntil(ctx, waitFor, func() (bool, error) {
		err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &k)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return err
	}
	for {
		err = admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &k)
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			return err
		}
		if len(k.Finalizers) > 0 {
			k.Finalizers = nil
			if err := admin.Update(ctx, &k); err != nil && !apierrors.IsConflict(err) {
				return err
			}
			continue
		}
		if err := admin.Delete(ctx, &k); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if err := admin.Delete(ctx, squatter); err != nil {
		return err
	}
	return admin.Create(ctx, &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: keywardv1.APIKeySpec{
			Owner: "mallory", Scopes: []keywardv1.Scope{"acme/payments/invoices:read"},
			Delivery: &keywardv1.Delivery{SecretName: squatter.Name},
		},
	})
}

// The delivered key is given only from a Secret the APIKey controls, and
// only when it is a key of the APIKey's own key ID.
func TestReadDeliveredKeyRefusesWhatIsNotThisKeysDelivery(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	k := readyKey(t, ns, "alice-ci", "alice")
	g := NewWithT(t)
	good, err := readDeliveredKey(ctx, admin, k)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(good.Plaintext()).To(Equal(deliveredKey(t, k)))

	other, err := keys.Generate("")
	g.Expect(err).NotTo(HaveOccurred())
	for _, tc := range []struct {
		name   string
		secret func(*corev1.Secret)
		want   string
	}{
		{"a Secret of the name that this APIKey does not control", func(s *corev1.Secret) {
			s.OwnerReferences[0].UID = "another-uid"
		}, "is not controlled by this APIKey"},
		{"a Secret with a second owner", func(s *corev1.Secret) {
			s.OwnerReferences = append(s.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "y"})
		}, "is not controlled by this APIKey"},
		{"no key at all", func(s *corev1.Secret) { s.Data[deliveryKeyField] = []byte("\x1b]52;c;Zm9v\x07") }, "does not hold a keyward key"},
		{"another key ID's key", func(s *corev1.Secret) { s.Data[deliveryKeyField] = []byte(other.Plaintext()) }, "holds the key of key ID " + other.ID()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var s corev1.Secret
			g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: k.Status.SecretName}, &s)).To(Succeed())
			tc.secret(&s)
			// Read through a client that returns the forged Secret, since
			// the manager repairs a forged one in the cluster at once.
			_, err := readDeliveredKey(ctx, forgedSecretClient{Client: admin, secret: &s}, k)
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
			g.Expect(err.Error()).NotTo(ContainSubstring(other.Plaintext()))
			g.Expect(strings.Contains(err.Error(), "\x1b")).To(BeFalse())
		})
	}
}

type forgedSecretClient struct {
	client.Client
	secret *corev1.Secret
}

func (f forgedSecretClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if s, ok := obj.(*corev1.Secret); ok && key.Name == f.secret.Name {
		f.secret.DeepCopyInto(s)
		return nil
	}
	return f.Client.Get(ctx, key, obj, opts...)
}
