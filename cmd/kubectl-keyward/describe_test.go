package main

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestDescribeShowsStateConditionsEventsAndDelivery(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	k := readyKey(t, ns, "alice-ci", "alice")
	plaintext := deliveredKey(t, k)

	var res result
	// Events are written asynchronously by the manager's recorder.
	g.Eventually(func(g Gomega) {
		res = asAdmin("describe", k.Status.Prefix, "-n", ns)
		g.Expect(res.code).To(Equal(0), res.stderr)
		g.Expect(res.stdout).To(MatchRegexp(`(?m)^Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message`))
	}, waitFor).Should(Succeed())
	for _, want := range []string{
		"Name:", "alice-ci",
		"Prefix:", k.Status.Prefix,
		"Scopes:", "acme/payments/invoices:read",
		"State:", "Active",
		"Secret Generation:", "1",
		`Delivered To:`, `Secret "alice-ci", data key "key" (kubectl get secret alice-ci -n ` + ns + ` -o jsonpath='{.data.key}' | base64 -d)`,
		"Conditions:", "Ready", "KeyReady",
	} {
		g.Expect(res.stdout).To(ContainSubstring(want))
	}
	g.Expect(res.stdout).NotTo(ContainSubstring(plaintext))
	g.Expect(strings.Count(res.stdout, "Normal")).To(BeNumerically(">=", 1))
}
