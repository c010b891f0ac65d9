package main

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/snippets"
)

// withSnippets waits until keyward has written the key's snippets.
func withSnippets(t *testing.T, ns, name string) *keywardv1.APIKey {
	t.Helper()
	var k *keywardv1.APIKey
	NewWithT(t).Eventually(func(g Gomega) {
		k = getKey(t, ns, name)
		g.Expect(k.Status.Delivery).NotTo(BeNil())
		g.Expect(k.Status.Delivery.SnippetsConfigMap).NotTo(BeEmpty())
	}, waitFor).Should(Succeed())
	return k
}

func TestSnippetNeverContainsTheKeyUnlessAsked(t *testing.T) {
	ns := namespace(t, nil)
	readyKey(t, ns, "payments-api", "alice", func(k *keywardv1.APIKey) {
		k.Spec.AuthMethods = []keywardv1.AuthMethod{keywardv1.AuthMethodAPIKey, keywardv1.AuthMethodClientCredentials}
	})
	k := withSnippets(t, ns, "payments-api")
	key := deliveredKey(t, k)
	for _, lang := range snippets.Langs {
		t.Run(string(lang), func(t *testing.T) {
			g := NewWithT(t)
			res := asAdmin("snippet", k.Status.Prefix, "-n", ns, "--lang", string(lang))
			g.Expect(res.code).To(Equal(0), res.stderr)
			g.Expect(res.stdout).NotTo(ContainSubstring(key))
			g.Expect(res.stdout).To(ContainSubstring(k.Status.Prefix))
			var cm corev1.ConfigMap
			g.Expect(admin.Get(context.Background(), keyOf(ns, k.Status.Delivery.SnippetsConfigMap), &cm)).To(Succeed())
			g.Expect(res.stdout).To(Equal(cm.Data[lang.FileName()]), "the same snippet as keyward wrote")

			with := asAdmin("snippet", "payments-api", "-n", ns, "--lang", string(lang), "--with-key")
			g.Expect(with.code).To(Equal(0), with.stderr)
			if lang == snippets.Envoy || lang == snippets.Traefik || lang == snippets.Nginx {
				g.Expect(with.stdout).NotTo(ContainSubstring(key), "a proxy needs no key")
			} else {
				g.Expect(with.stdout).To(ContainSubstring(key))
			}
		})
	}
}

func TestSnippetRefusals(t *testing.T) {
	ns := namespace(t, nil)
	g := NewWithT(t)
	g.Expect(admin.Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "foreign-snippets"},
	})).To(Succeed())
	readyKey(t, ns, "foreign", "alice")
	readyKey(t, ns, "shown", "alice", revealOnce)
	unread := readyKey(t, ns, "unread", "alice", revealOnce)
	unreadKey := deliveredKey(t, unread)
	withSnippets(t, ns, "shown")
	g.Expect(asAdmin("reveal", "shown", "-n", ns).code).To(Equal(0))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no language", []string{"shown"}, `required flag(s) "lang" not set`},
		{"unknown language", []string{"shown", "--lang", "cobol"}, `unknown snippet language "cobol"`},
		{"a bad URL", []string{"foreign", "--lang", "curl", "--decision-url", "http://v/?q", "--token-url", "http://v/t"}, `decision URL "http://v/?q"`},
		{"a revealed key with the key", []string{"shown", "--lang", "curl", "--with-key"}, "apikey/shown is shown once (spec.delivery.revealOnce), and only kubectl keyward reveal may read it"},
		{"a key shown once, unread, with the key", []string{"unread", "--lang", "curl", "--with-key", "--decision-url", "http://v", "--token-url", "http://v/t"}, "apikey/unread is shown once (spec.delivery.revealOnce), and only kubectl keyward reveal may read it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			res := asAdmin(append([]string{"snippet", "-n", ns}, tc.args...)...)
			g.Expect(res.code).To(Equal(1))
			g.Expect(res.stdout).To(BeEmpty())
			g.Expect(res.stderr).To(ContainSubstring(tc.want))
		})
	}
	g.Expect(asAdmin("snippet", "foreign", "-n", ns, "--lang", "curl", "--decision-url", "http://v", "--token-url", "http://v/t").code).To(Equal(0))
	// Without its ConfigMap, a key still has the endpoints keyward
	// published in its status.
	foreign := asAdmin("snippet", "foreign", "-n", ns, "--lang", "envoy")
	g.Expect(foreign.code).To(Equal(0), foreign.stderr)
	g.Expect(foreign.stdout).To(ContainSubstring("keyward-verifier."))
	g.Expect(deliveredKey(t, unread)).To(Equal(unreadKey), "the refusal read nothing out")
	g.Expect(getKey(t, ns, "unread").Annotations).NotTo(HaveKey(keywardv1.RevealedAnnotation))

	// Without --with-key, the snippet of a key shown once says where a
	// pod should read it from.
	once := asAdmin("snippet", "unread", "-n", ns, "--lang", "curl", "--decision-url", "http://v", "--token-url", "http://v/t")
	g.Expect(once.code).To(Equal(0), once.stderr)
	g.Expect(once.stdout).To(ContainSubstring("It is shown once: revealing it empties the delivery"))
}
