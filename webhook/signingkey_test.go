package webhook

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func pemBlock(t *testing.T, typ string, der []byte, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// TestSigningKeyAdmission: a client key is admitted only with a usable
// public key, for an APIKey of the same owner that allows client
// assertions; refusals name the field and never echo the key.
func TestSigningKeyAdmission(t *testing.T) {
	ctx := context.Background()
	ns := namespaceWithLabels(t, nil)
	g := NewWithT(t)
	g.Expect(k8s.Create(ctx, key(ns, "assertions", func(k *keywardv1.APIKey) {
		k.Spec.AuthMethods = []keywardv1.AuthMethod{keywardv1.AuthMethodClientAssertion}
	}))).To(Succeed())
	g.Expect(k8s.Create(ctx, key(ns, "plain", nil))).To(Succeed())

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, err := x509.MarshalPKIXPublicKey(ec.Public())
	good := pemBlock(t, "PUBLIC KEY", ecDER, err)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, err := x509.MarshalPKIXPublicKey(p384.Public())
	wrongCurve := pemBlock(t, "PUBLIC KEY", p384DER, err)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallDER, err := x509.MarshalPKIXPublicKey(small.Public())
	weak := pemBlock(t, "PUBLIC KEY", smallDER, err)
	privDER, err := x509.MarshalPKCS8PrivateKey(ec)
	private := pemBlock(t, "PRIVATE KEY", privDER, err)

	sk := func(name, owner, apiKey, pub string) *keywardv1.SigningKey {
		return &keywardv1.SigningKey{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeClient, Owner: owner,
				Client: &keywardv1.ClientKey{APIKeyName: apiKey, PublicKey: pub}},
		}
	}
	refused := map[string]struct {
		obj  *keywardv1.SigningKey
		want []string
	}{
		"a private key":          {sk("r1", "15a6", "assertions", private), []string{"spec.client.publicKey", `not "PUBLIC KEY"`}},
		"P-384":                  {sk("r2", "15a6", "assertions", wrongCurve), []string{"spec.client.publicKey", "P-256"}},
		"RSA 1024":               {sk("r3", "15a6", "assertions", weak), []string{"spec.client.publicKey", "2048"}},
		"not a key":              {sk("r4", "15a6", "assertions", "hello"), []string{"spec.client.publicKey", "neither"}},
		"someone else's key":     {sk("r5", "other", "assertions", good), []string{"spec.owner", `must be "15a6"`}},
		"assertions not allowed": {sk("r6", "15a6", "plain", good), []string{"spec.client.apiKeyName", "ClientAssertion"}},
	}
	for name, tc := range refused {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := k8s.Create(ctx, tc.obj)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
			// The block type may be named; its content never.
			g.Expect(err.Error()).NotTo(ContainSubstring(strings.Split(private, "\n")[1]))
		})
	}
	g.Expect(k8s.Create(ctx, sk("ok", "15a6", "assertions", good))).To(Succeed())
	// Applied before its APIKey (one kubectl apply of a directory): admitted.
	g.Expect(k8s.Create(ctx, sk("early", "15a6", "later", good))).To(Succeed())
}
