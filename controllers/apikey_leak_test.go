package controllers

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/policy"
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
