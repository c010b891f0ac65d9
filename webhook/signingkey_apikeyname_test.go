package webhook

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// keyward quotes spec.client.apiKeyName in conditions and Events that
// administrators read in a terminal: a tenant's name with an escape
// sequence or a newline in it is refused, as is anything that cannot name
// an object.
func TestSigningKeyAPIKeyNameIsAnObjectName(t *testing.T) {
	ctx := context.Background()
	ns := namespaceWithLabels(t, nil)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.MarshalPKIXPublicKey(ec.Public())
	pub := pemBlock(t, "PUBLIC KEY", der, err)
	sk := func(name, apiKey string) *keywardv1.SigningKey {
		return &keywardv1.SigningKey{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeClient, Owner: "15a6",
				Client: &keywardv1.ClientKey{APIKeyName: apiKey, PublicKey: pub}},
		}
	}
	for name, apiKey := range map[string]string{
		"OSC 52 clipboard write": "x\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07",
		"hidden text":            "x\x1b[8m",
		"a forged line":          "x\nReady: True",
		"a tab":                  "x\tTrue",
		"upper case":             "Payments",
		"a space":                "payments api",
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := k8s.Create(ctx, sk("refused", apiKey))
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			g.Expect(err.Error()).To(ContainSubstring("spec.client.apiKeyName"))
		})
	}
	g := NewWithT(t)
	g.Expect(k8s.Create(ctx, sk("dotted", "payments.api-v2"))).To(Succeed())
}
