package e2e

import (
	"net/http"
	"strconv"
	"testing"

	. "github.com/onsi/gomega"
)

// A key with a daily quota of 3 credits, asked through Envoy's forward-auth
// endpoint of the verifier pods: each replica counts on its own (the memory
// store), so at most 2 × 3 requests pass and the 7th is refused for sure;
// the refusal is a 429 with Retry-After and the RateLimit headers, and the
// replicas' usage reaches the APIKey's status.
func TestAQuotaIsEnforcedAndReportedInStatus(t *testing.T) {
	g := NewWithT(t)
	applyKeyIn(t, openNS, "e2e-metered", `  rateLimit:
    quota: {credits: 3, refill: Daily}
`)
	key := deliveredKeyIn(g, openNS, "e2e-metered", "key")

	client, err := verifierClient()
	g.Expect(err).NotTo(HaveOccurred())
	permitted, refused := 0, (*http.Response)(nil)
	for range 7 {
		req, err := http.NewRequest(http.MethodGet, "https://"+verifierAddr+"/authz/envoy/acme/payments/investigations/INV-7", nil)
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Forwarded-For", "10.1.2.3")
		resp, err := client.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			permitted++
			g.Expect(resp.Header.Get("RateLimit-Policy")).To(HavePrefix(`"quota";q=3;w=`))
			continue
		}
		g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
		refused = resp
		break
	}
	g.Expect(refused).NotTo(BeNil(), "7 requests cannot all fit 2 replicas × 3 credits")
	g.Expect(permitted).To(BeNumerically(">=", 3))
	retry, err := strconv.Atoi(refused.Header.Get("Retry-After"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(retry).To(BeNumerically(">", 0), "the quota refills at the next midnight")
	g.Expect(refused.Header.Get("RateLimit")).To(HavePrefix(`"quota";r=0;t=`))
	t.Logf("%d requests permitted before a 429 with Retry-After %ds", permitted, retry)

	g.Eventually(func(g Gomega) {
		used, err := strconv.Atoi(jsonpath(g, "{.status.quota.used}", "get", "apikey", "e2e-metered", "-n", openNS))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(used).To(BeNumerically(">=", 1))
		g.Expect(jsonpath(g, "{.status.quota.resetTime}", "get", "apikey", "e2e-metered", "-n", openNS)).NotTo(BeEmpty())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	t.Logf("kubectl get apikey e2e-metered -o wide:\n%s", must(t, "get", "apikey", "e2e-metered", "-n", openNS, "-o", "wide"))
}
