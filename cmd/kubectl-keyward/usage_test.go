package main

import (
	"context"
	"os/exec"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// sampleUsage is status.usage as the manager's usage aggregator writes it.
func sampleUsage() *keywardv1.UsageStatus {
	day := keywardv1.UsageWindow{Requests: 1200, Denials: 30, ErrorRate: "2.5%",
		TopDenials: []keywardv1.DenialCount{{Reason: "scope_denied", Count: 20}, {Reason: "invalid_secret", Count: 10}}}
	return &keywardv1.UsageStatus{
		LastUsedTime: &metav1.Time{Time: time.Date(2030, 1, 1, 9, 59, 0, 0, time.UTC)},
		LastHour:     &keywardv1.UsageWindow{Requests: 60, Denials: 0, ErrorRate: "0.0%"},
		LastDay:      &day,
		TopCountries: []keywardv1.CountryCount{{Country: "DE", Requests: 1100}, {Country: "FR", Requests: 70}},
		TopNetworks:  []keywardv1.NetworkCount{{Network: "203.0.113.0/24", Requests: 1170}},
	}
}

func TestUsage(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	plain := readyKey(t, ns, "no-quota", "alice")
	res := asAdmin("usage", plain.Name, "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(MatchRegexp(`Last Used:\s+<never seen by the verifiers>\n`))
	g.Expect(res.stderr).To(ContainSubstring("has no quota"))

	metered := readyKey(t, ns, "metered", "alice", func(k *keywardv1.APIKey) {
		k.Spec.RateLimit = &keywardv1.RateLimit{Quota: &keywardv1.Quota{Credits: 1000, Refill: keywardv1.Daily}}
	})
	res = asAdmin("usage", metered.Status.Prefix, "-n", ns)
	g.Expect(res.stderr).To(ContainSubstring("no verifier has reported its quota spending yet"))

	// What the verifiers' reports make the manager write.
	reset := metav1.NewTime(time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC))
	metered.Status.Quota = &keywardv1.QuotaStatus{Used: 250, Remaining: 750, ResetTime: &reset}
	metered.Status.Usage = sampleUsage()
	g.Expect(admin.Status().Update(context.Background(), metered)).To(Succeed())
	res = asAdmin("usage", metered.Status.Prefix, "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stderr).To(BeEmpty())
	t.Logf("kubectl keyward usage:\n%s", res.stdout)
	for _, line := range []string{
		`Last Used:\s+2030-01-01T09:59:00Z`,
		`Last Hour:\s+60 requests, 0 denied \(0\.0%\)`,
		`Last Day:\s+1200 requests, 30 denied \(2\.5%\)`,
		`Top Denials:\s+scope_denied 20, invalid_secret 10`,
		`Top Countries:\s+DE 1100, FR 70`,
		`Top Networks:\s+203\.0\.113\.0/24 1170`,
		`Quota Used:\s+250`,
		`Quota Remaining:\s+750`,
		`Quota Resets:\s+2030-01-02T00:00:00Z`,
	} {
		g.Expect(res.stdout).To(MatchRegexp(`(?m)^` + line + `$`))
	}

	res = asAdmin("describe", metered.Name, "-n", ns)
	g.Expect(res.code).To(Equal(0), res.stderr)
	t.Logf("kubectl keyward describe:\n%s", res.stdout)
	g.Expect(res.stdout).To(MatchRegexp(`(?m)^Last Day:\s+1200 requests, 30 denied \(2\.5%\)$`))
	g.Expect(res.stdout).To(MatchRegexp(`(?m)^Top Countries:\s+DE 1100, FR 70$`))

	// kubectl's own describe prints status as it is: the usage reads as a
	// section of its own.
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "--kubeconfig", adminKubeconfig, "describe", "apikey", metered.Name, "-n", ns).CombinedOutput()
		g.Expect(err).NotTo(HaveOccurred(), string(out))
		t.Logf("kubectl describe apikey:\n%s", out)
		g.Expect(string(out)).To(MatchRegexp(`(?m)^\s+Usage:\n\s+Last Day:\n\s+Denials:\s+30\n\s+Error Rate:\s+2\.5%`))
	}

	help := asAdmin("usage", "--help")
	g.Expect(help.stdout).To(ContainSubstring("no per-key labels"))
}
