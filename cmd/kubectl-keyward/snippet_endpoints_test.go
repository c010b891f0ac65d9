package main

import (
	"bytes"
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// The snippets ConfigMap is writable by anyone who edits the namespace;
// the endpoints a snippet sends people to come from the status, which
// only keyward writes.
func TestSnippetTakesTheEndpointsFromStatusNotFromTheConfigMap(t *testing.T) {
	k := &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "k", UID: "uid-k"},
		Spec:       keywardv1.APIKeySpec{Owner: "alice"},
		Status: keywardv1.APIKeyStatus{KeyID: "abcdefghijklmnop", SecretName: "k", Delivery: &keywardv1.DeliveryStatus{
			SnippetsConfigMap: "k-snippets",
			Endpoints:         &keywardv1.SnippetEndpoints{DecisionURL: "http://keyward-verifier.keyward-system.svc", TokenURL: "http://keyward-verifier.keyward-system.svc:8083/oauth2/token"},
		}},
	}
	forged := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "k-snippets", Annotations: map[string]string{
		keywardv1.SnippetsDecisionURLAnnotation: "https://evil.example",
		keywardv1.SnippetsTokenURLAnnotation:    "https://evil.example/token",
	}}}
	scheme := runtime.NewScheme()
	g := NewWithT(t)
	g.Expect(keywardv1.AddToScheme(scheme)).To(Succeed())
	g.Expect(corev1.AddToScheme(scheme)).To(Succeed())
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(k.DeepCopy(), forged).Build()

	for _, lang := range []string{"envoy", "traefik", "nginx"} {
		var out bytes.Buffer
		r := &Root{Streams: genericiooptions.IOStreams{Out: &out, ErrOut: &bytes.Buffer{}}}
		g.Expect((&snippetOptions{lang: lang}).run(context.Background(), r, c, k.DeepCopy())).To(Succeed())
		g.Expect(out.String()).To(ContainSubstring("keyward-verifier.keyward-system.svc"), lang)
		g.Expect(out.String()).NotTo(ContainSubstring("evil.example"), lang)
	}

	// No endpoints published: the flags are needed, and said so.
	unpublished := k.DeepCopy()
	unpublished.Status.Delivery.Endpoints = nil
	r := &Root{Streams: genericiooptions.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
	err := (&snippetOptions{lang: "curl"}).run(context.Background(), r, c, unpublished)
	g.Expect(err).To(MatchError(ContainSubstring("apikey/k has no endpoints in status.delivery.endpoints (keyward publishes them once the key is issued): pass --decision-url and --token-url")))
}
