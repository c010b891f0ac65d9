package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/leak"
	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/usage"
)

func TestALeakedKeyIsRevokedUnlessEveryPolicySaysSuspend(t *testing.T) {
	for name, tc := range map[string]struct {
		rules []policy.Rules
		want  bool
	}{
		"no policy":           {nil, false},
		"one Suspend":         {[]policy.Rules{{SuspendLeakedKeys: true}}, true},
		"one Revoke":          {[]policy.Rules{{}}, false},
		"Suspend and Revoke":  {[]policy.Rules{{SuspendLeakedKeys: true}, {}}, false},
		"Suspend and Suspend": {[]policy.Rules{{SuspendLeakedKeys: true}, {SuspendLeakedKeys: true}}, true},
	} {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(suspendLeakedKeys(tc.rules)).To(Equal(tc.want))
		})
	}
}

// Under Suspend, a leak of a previous secret only drops that secret: the
// message must not say the key is suspended.
func TestALeakOfAPreviousSecretIsNotWordedAsASuspension(t *testing.T) {
	g := NewWithT(t)
	key := &keywardv1.APIKey{Spec: keywardv1.APIKeySpec{Owner: "15a6"}, Status: keywardv1.APIKeyStatus{KeyID: "abcdefghijklmnop",
		Leak: &keywardv1.LeakStatus{Action: keywardv1.LeakActionSuspend, ReportedTime: metav1.Now()}}}
	g.Expect(leakMessage(key, true)).To(ContainSubstring("suspended it until its next rotation"))
	g.Expect(leakMessage(key, false)).NotTo(ContainSubstring("suspended"))
	g.Expect(leakMessage(key, false)).To(ContainSubstring("dropped it at once; the current secret keeps working"))
}

// The manager caches the verifier's reports, not every ConfigMap of the
// verifier namespace (where leak reports accumulate beside others).
func TestTheManagerCachesOnlyVerifierReportConfigMaps(t *testing.T) {
	g := NewWithT(t)
	opts := CacheOptions("keyward-verifier")
	var cm cache.ByObject
	for obj, by := range opts.ByObject {
		if _, ok := obj.(*corev1.ConfigMap); ok {
			cm = by
		}
	}
	g.Expect(cm.Namespaces).To(HaveKey("keyward-verifier"))
	inVerifierNamespace := cm.Namespaces["keyward-verifier"].LabelSelector
	g.Expect(inVerifierNamespace).NotTo(BeNil(), "every ConfigMap of the verifier namespace is cached")
	g.Expect(inVerifierNamespace.Matches(labels.Set{record.VerifierReportLabel: "true", leak.Label: "true"})).To(BeTrue())
	g.Expect(inVerifierNamespace.Matches(labels.Set{record.VerifierReportLabel: "true", usage.Label: "true"})).To(BeTrue())
	g.Expect(inVerifierNamespace.Matches(labels.Set{"app": "something-else"})).To(BeFalse())
	// Elsewhere only keyward's own (the snippets it writes beside delivery Secrets).
	elsewhere := cm.Namespaces[cache.AllNamespaces].LabelSelector
	g.Expect(elsewhere).NotTo(BeNil())
	g.Expect(elsewhere.Matches(labels.Set{"app": "something-else"})).To(BeFalse())
}
