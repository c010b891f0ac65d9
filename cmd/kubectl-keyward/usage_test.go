package main

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func TestUsage(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	plain := readyKey(t, ns, "no-quota", "alice")
	res := asAdmin("usage", plain.Name, "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(BeEmpty())
	g.Expect(res.stderr).To(ContainSubstring("has no quota"))

	metered := readyKey(t, ns, "metered", "alice", func(k *keywardv1.APIKey) {
		k.Spec.RateLimit = &keywardv1.RateLimit{Quota: &keywardv1.Quota{Credits: 1000, Refill: keywardv1.Daily}}
	})
	res = asAdmin("usage", metered.Status.Prefix, "-n", ns)
	g.Expect(res.stderr).To(ContainSubstring("no verifier has reported its spending yet"))

	// What a verifier's usage report makes the manager write.
	reset := metav1.NewTime(time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC))
	metered.Status.Quota = &keywardv1.QuotaStatus{Used: 250, Remaining: 750, ResetTime: &reset}
	g.Expect(admin.Status().Update(context.Background(), metered)).To(Succeed())
	res = asAdmin("usage", metered.Status.Prefix, "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(ContainSubstring("Used:      250\n"))
	g.Expect(res.stdout).To(ContainSubstring("Remaining: 750\n"))
	g.Expect(res.stdout).To(ContainSubstring("Resets:    2030-01-02T00:00:00Z\n"))

	help := asAdmin("usage", "--help")
	g.Expect(help.stdout).To(ContainSubstring("analytics"))
	g.Expect(help.stdout).To(ContainSubstring("not built yet"))
}
