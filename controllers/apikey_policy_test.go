package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// TestAPolicyTheCacheHasNotSeenStillCounts: a KeyPolicy applied together
// with its keys may reach the API server before the manager's cache. Under
// --default-policy=deny, "no policy" from the cache is confirmed with the
// API server, so that the first key reconciled does not lose its scopes.
func TestAPolicyTheCacheHasNotSeenStillCounts(t *testing.T) {
	g := NewWithT(t)
	s := runtime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(s)).To(Succeed())
	g.Expect(keywardv1.AddToScheme(s)).To(Succeed())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"team": "a"}}}
	p := &keywardv1.KeyPolicy{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}, Spec: keywardv1.KeyPolicySpec{
		NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
	}}
	stale := fake.NewClientBuilder().WithScheme(s).WithObjects(ns.DeepCopy()).Build()
	live := fake.NewClientBuilder().WithScheme(s).WithObjects(ns.DeepCopy(), p).Build()

	for _, tc := range []struct {
		defaultAllow bool
		want         int
	}{{false, 1}, {true, 0}} {
		r := &APIKeyReconciler{Client: stale, APIReader: live, DefaultAllow: tc.defaultAllow}
		rules, err := r.policiesFor(context.Background(), "team-a")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(rules).To(HaveLen(tc.want), "defaultAllow=%v: with allow, no policy is no restriction and the cache is enough", tc.defaultAllow)
	}
}
