package main

import (
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/keyspec"
)

// The keys the instructions tell a newcomer to apply meet the sample
// KeyPolicy, or break it the four ways its comment says: the same policy
// code the webhook runs, without a control plane.
func TestPrintedKeysMeetOrBreakTheSamplePolicy(t *testing.T) {
	g := NewWithT(t)
	b, err := os.ReadFile("../../" + samplePolicyFile) // also what --samples=false tells people to apply
	g.Expect(err).NotTo(HaveOccurred())
	var kp keywardv1.KeyPolicy
	g.Expect(yaml.UnmarshalStrict(b, &kp)).To(Succeed())
	rules, err := keyspec.Rules(&kp)
	g.Expect(err).NotTo(HaveOccurred())

	violations := func(heredoc string) []policy.Violation {
		manifest := strings.TrimSuffix(strings.SplitN(heredoc, "\n", 2)[1], "EOF")
		var k keywardv1.APIKey
		g.Expect(yaml.UnmarshalStrict([]byte(manifest), &k)).To(Succeed())
		_, vs := policy.Evaluate(keyspec.PolicyKey(&k, time.Now()), []policy.Rules{rules}, false)
		return vs
	}
	g.Expect(violations(exampleAPIKey)).To(BeEmpty())
	var fields []string
	for _, v := range violations(refusedAPIKey) {
		fields = append(fields, v.Field)
	}
	g.Expect(fields).To(ConsistOf("spec.scopes[0]", "spec.scopes[1]", "spec.expiration", "spec.rateLimit.limits"))
}
