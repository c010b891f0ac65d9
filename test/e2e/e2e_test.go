package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// The tests run in this order, which follows the product's story; each
// sets up what it needs (samples, its own keys), so that any of them runs
// alone with E2E_TEST_ARGS='-run NAME'.

func TestTheManagerIsReadyAndLeads(t *testing.T) {
	g := NewWithT(t)
	must(t, "-n", systemNS, "wait", "--for=condition=Available", "deployment/keyward-controller-manager", "--timeout=3m")
	g.Eventually(func(g Gomega) {
		g.Expect(jsonpath(g, "{.items[*].status.containerStatuses[0].ready}", "-n", systemNS, "get", "pods", "-l", managerApp)).To(Equal("true"))
		g.Expect(jsonpath(g, "{.spec.holderIdentity}", "-n", systemNS, "get", "lease", leaseName)).NotTo(BeEmpty())
		g.Expect(acquiredLease(g, "deployment/keyward-controller-manager")).To(BeTrue(), "the manager's log says it leads")
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

// acquiredLease reads a manager's log for leader election's line.
func acquiredLease(g Gomega, what string) bool {
	logs, err := kubectl("-n", systemNS, "logs", what)
	g.Expect(err).NotTo(HaveOccurred())
	return strings.Contains(logs, `"msg":"Successfully acquired lease","lock":"`+systemNS+"/"+leaseName+`"`)
}

func TestTheCRDsAndTheWebhookAreRegistered(t *testing.T) {
	g := NewWithT(t)
	for _, crd := range []string{"apikeys.keyward.dev", "keypolicies.keyward.dev", "signingkeys.keyward.dev"} {
		must(t, "wait", "--for=condition=Established", "crd/"+crd, "--timeout=1m")
	}
	// The manager's cert rotator injects its CA; until then the API server
	// could not call the webhook.
	g.Eventually(func(g Gomega) {
		ca := jsonpath(g, "{.webhooks[*].clientConfig.caBundle}", "get", "validatingwebhookconfiguration", "keyward-validating-webhook-configuration")
		g.Expect(strings.Fields(ca)).To(HaveLen(4))
		g.Expect(jsonpath(g, "{.webhooks[*].name}", "get", "validatingwebhookconfiguration", "keyward-validating-webhook-configuration")).
			To(Equal("apikey-audit.keyward.dev vapikey.keyward.dev vkeypolicy.keyward.dev vsigningkey.keyward.dev"))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

// samples applies config/samples (two APIKeys and the KeyPolicy governing
// "default") and waits until the keys are Ready. Re-applying them writes
// nothing, so every test that uses them calls it and runs alone too.
func samples(t *testing.T) {
	t.Helper()
	// Through the webhook: until the manager serves it, creation is refused.
	NewWithT(t).Eventually(func() error {
		_, err := kubectl("apply", "-n", "default", "-f", "../../config/samples/")
		return err
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	waitReady(t, "apikey/fraud-reporting")
	waitReady(t, "apikey/case-intake")
}

func TestTheSamplesBecomeReady(t *testing.T) {
	g := NewWithT(t)
	samples(t)

	list := must(t, "get", "apikeys", "-n", "default")
	t.Logf("kubectl get apikeys\n%s", list)
	g.Expect(list).To(MatchRegexp(`fraud-reporting\s+15a6\s+15a6/[a-z2-7]{16}\s+True\s+KeyReady`))

	describe := must(t, "describe", "apikey", "fraud-reporting", "-n", "default")
	t.Logf("kubectl describe apikey fraud-reporting\n%s", describe)
	g.Expect(describe).To(ContainSubstring("Nightly fraud report, read-only"))
	g.Expect(describe).To(MatchRegexp(`Type:\s+Ready`))
	g.Expect(describe).To(MatchRegexp(`Reason:\s+KeyReady`))
	g.Expect(describe).To(MatchRegexp(`Normal\s+Created`))
	g.Expect(describe).NotTo(ContainSubstring("keyward_"), "no key material in status or Events")
}

func TestTheManagerDeploysTwoReadyVerifiers(t *testing.T) {
	g := NewWithT(t)
	samples(t)
	g.Eventually(func(g Gomega) {
		g.Expect(jsonpath(g, "{.spec.replicas} {.status.readyReplicas}", "-n", verifierNS, "get", "deployment", "keyward-verifier")).To(Equal("2 2"))
		g.Expect(jsonpath(g, "{.metadata.labels.app\\.kubernetes\\.io/managed-by}", "-n", verifierNS, "get", "deployment", "keyward-verifier")).To(Equal("keyward"))
		ready := jsonpath(g, "{.items[*].status.containerStatuses[0].ready}", "-n", verifierNS, "get", "pods", "-l", verifierLb, "--field-selector=status.phase=Running")
		g.Expect(ready).To(Equal("true true"))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(jsonpath(g, `{.status.conditions[?(@.type=="VerifierAvailable")].status}`, "get", "apikey", "fraud-reporting", "-n", "default")).To(Equal("True"))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	t.Logf("kubectl get pods -A -o wide\n%s", must(t, "get", "pods", "-A", "-o", "wide"))
}

// Every verifier pod answers: each logs the first use of a secret it
// verified, so requests go on until both pods have logged one.
func TestAKeyIsVerifiedByTheVerifierPods(t *testing.T) {
	g := NewWithT(t)
	samples(t)
	key := deliveredKey(g, "fraud-reporting", "key")
	keyID := jsonpath(g, "{.status.keyID}", "get", "apikey", "fraud-reporting", "-n", "default")

	g.Eventually(func(g Gomega) {
		d, err := decide(key)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(d).To(Equal(decision{Decision: "Permit", Reason: "allowed", KeyID: keyID, Secret: "current"}))
		g.Expect(podsThatLogged(g, `"action":"first_use"`, keyID)).To(Equal(2))
	}).WithTimeout(timeout).WithPolling(50 * time.Millisecond).Should(Succeed())

	d, err := decide(key[:len(key)-8] + "AAAAAAAA")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d.Decision).To(Equal("Deny"))
	t.Logf("POST /v1/decision through the verifier pods: %+v", d)
}

func podsThatLogged(g Gomega, substrings ...string) int {
	names := strings.Fields(jsonpath(g, "{.items[*].metadata.name}", "-n", verifierNS, "get", "pods", "-l", verifierLb))
	n := 0
	for _, pod := range names {
		logs, err := kubectl("-n", verifierNS, "logs", pod)
		g.Expect(err).NotTo(HaveOccurred())
		for _, line := range strings.Split(logs, "\n") {
			if containsAll(line, substrings) {
				n++
				break
			}
		}
	}
	return n
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// Revocation reaches every verifier pod: once one denies, a run of fresh
// connections (spread over both) must all deny.
func TestRevocationReachesTheVerifiers(t *testing.T) {
	revokedKey(t)
}

// revokedKey revokes the key e2e-revoked, once it verified, and returns it
// when every verifier pod denies it as revoked.
func revokedKey(t *testing.T) string {
	t.Helper()
	g := NewWithT(t)
	if _, err := kubectl("delete", "apikey", "e2e-revoked", "-n", "default", "--ignore-not-found", "--wait=true"); err != nil {
		t.Fatal(err)
	}
	applyKey(t, "e2e-revoked")
	key := deliveredKey(g, "e2e-revoked", "key")
	g.Eventually(func(g Gomega) {
		d, err := decide(key)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(d.Decision).To(Equal("Permit"))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

	must(t, "patch", "apikey", "e2e-revoked", "-n", "default", "--type=merge", "-p", `{"spec":{"revoked":true}}`)
	g.Eventually(func(g Gomega) {
		for range 20 {
			d, err := decide(key)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(d.Decision + "/" + d.Reason).To(Equal("Deny/revoked"))
		}
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return key
}

// While requests flow, one verifier pod is deleted and replaced. Every
// request must get its correct decision; a connection the stopping pod
// refuses or resets is retried, as a proxy retries it (decideAsAProxy).
func TestDeletingAVerifierPodLosesNoDecision(t *testing.T) {
	g := NewWithT(t)
	// A key without rate limits: what is measured is the replacement of a
	// pod, not the key's limits.
	applyKeyIn(t, openNS, "e2e-load", "")
	permitted := deliveredKeyIn(g, openNS, "e2e-load", "key")
	revoked := revokedKey(t)

	var (
		stop                     atomic.Bool
		requests, retries, wrong atomic.Int64
		wg                       sync.WaitGroup
		mu                       sync.Mutex
		failures                 []string
	)
	for _, c := range []struct{ key, want string }{{permitted, "Permit"}, {revoked, "Deny"}} {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					d, r, err := decideAsAProxy(c.key)
					requests.Add(1)
					retries.Add(int64(r))
					if err != nil || d.Decision != c.want {
						wrong.Add(1)
						mu.Lock()
						failures = append(failures, fmt.Sprintf("want %s, got %+v, error %v", c.want, d, err))
						mu.Unlock()
					}
				}
			}()
		}
	}

	before := strings.Fields(jsonpath(g, "{.items[*].metadata.name}", "-n", verifierNS, "get", "pods", "-l", verifierLb))
	g.Expect(before).To(HaveLen(2))
	must(t, "-n", verifierNS, "delete", "pod", before[0], "--wait=true")
	// A replacement pod is Ready and serving beside the one that stayed.
	g.Eventually(func(g Gomega) {
		pods := strings.Fields(jsonpath(g, "{.items[*].metadata.name}", "-n", verifierNS, "get", "pods", "-l", verifierLb))
		g.Expect(pods).To(HaveLen(2))
		g.Expect(pods).NotTo(ContainElement(before[0]))
		g.Expect(jsonpath(g, "{.status.readyReplicas}", "-n", verifierNS, "get", "deployment", "keyward-verifier")).To(Equal("2"))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	// Requests reach the new pod too before the test stops them.
	keyID := jsonpath(g, "{.status.keyID}", "get", "apikey", "e2e-load", "-n", openNS)
	g.Eventually(func(g Gomega) {
		g.Expect(podsThatLogged(g, `"action":"first_use"`, keyID)).To(Equal(2))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	stop.Store(true)
	wg.Wait()

	t.Logf("%d requests during the pod's replacement, %d connections retried", requests.Load(), retries.Load())
	g.Expect(requests.Load()).To(BeNumerically(">", 50))
	g.Expect(failures).To(BeEmpty())
	g.Expect(wrong.Load()).To(BeZero())
}

// The manager pod is deleted just after a rotation was asked for; the new
// leader completes it, and rotates again when asked.
func TestANewLeaderContinuesRotation(t *testing.T) {
	g := NewWithT(t)
	applyKey(t, "e2e-rotated")
	generation := func(g Gomega) int {
		n, err := strconv.Atoi(jsonpath(g, "{.status.secretGeneration}", "get", "apikey", "e2e-rotated", "-n", "default"))
		g.Expect(err).NotTo(HaveOccurred())
		return n
	}
	first := generation(g)
	oldKey := deliveredKey(g, "e2e-rotated", "key")
	oldHolder := jsonpath(g, "{.spec.holderIdentity}", "-n", systemNS, "get", "lease", leaseName)
	oldPod := jsonpath(g, "{.items[0].metadata.name}", "-n", systemNS, "get", "pods", "-l", managerApp)

	must(t, "annotate", "apikey", "e2e-rotated", "-n", "default", "keyward.dev/rotate=e2e-1", "--overwrite")
	must(t, "-n", systemNS, "delete", "pod", oldPod, "--wait=false")

	var newPod string
	g.Eventually(func(g Gomega) {
		holder := jsonpath(g, "{.spec.holderIdentity}", "-n", systemNS, "get", "lease", leaseName)
		g.Expect(holder).NotTo(BeEmpty())
		g.Expect(holder).NotTo(Equal(oldHolder))
		newPod = jsonpath(g, `{.items[?(@.status.phase=="Running")].metadata.name}`, "-n", systemNS, "get", "pods", "-l", managerApp)
		g.Expect(newPod).NotTo(BeEmpty())
		g.Expect(newPod).NotTo(ContainSubstring(oldPod))
		g.Expect(acquiredLease(g, newPod)).To(BeTrue(), "the new manager's log says it leads")
	}).WithTimeout(3 * time.Minute).WithPolling(interval).Should(Succeed())
	t.Logf("new leader: pod %s", newPod)

	rotated := func(to int) {
		g.Eventually(func(g Gomega) {
			g.Expect(generation(g)).To(Equal(to))
			g.Expect(jsonpath(g, `{.status.conditions[?(@.type=="Ready")].status}`, "get", "apikey", "e2e-rotated", "-n", "default")).To(Equal("True"))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	}
	rotated(first + 1)
	must(t, "annotate", "apikey", "e2e-rotated", "-n", "default", "keyward.dev/rotate=e2e-2", "--overwrite")
	rotated(first + 2)

	// The verifier pods take the new key, and the previous one for its
	// grace period.
	newKey := deliveredKey(g, "e2e-rotated", "key")
	g.Expect(newKey).NotTo(Equal(oldKey))
	g.Eventually(func(g Gomega) {
		d, err := decide(newKey)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(d.Decision + "/" + d.Secret).To(Equal("Permit/current"))
		previous := deliveredKey(g, "e2e-rotated", "previousKey")
		d, err = decide(previous)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(d.Decision + "/" + d.Secret).To(Equal("Permit/previous"))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

// The sample KeyPolicy governs "default": the webhook refuses a key
// outside it, on a dry run and for real, and nothing is created.
func TestTheWebhookRefusesWhatThePolicyForbids(t *testing.T) {
	g := NewWithT(t)
	samples(t)
	manifest := `apiVersion: keyward.dev/v1alpha1
kind: APIKey
metadata:
  name: e2e-too-much
  namespace: default
spec:
  owner: e2e
  scopes: [acme/hr/users:read]
  expiration:
    afterDays: 30
`
	for _, args := range [][]string{{"apply", "--dry-run=server", "-f", "-"}, {"apply", "-f", "-"}} {
		_, err := kubectlIn(manifest, args...)
		g.Expect(err).To(MatchError(SatisfyAll(
			ContainSubstring(`The APIKey "e2e-too-much" is invalid`),
			ContainSubstring(`spec.scopes[0]: Forbidden: scope "acme/hr/users:read" is not allowed by KeyPolicy "payments"`),
			ContainSubstring(`spec.rateLimit.limits: Forbidden: KeyPolicy "payments" requires a rate limit of at most 100 per 1s (at most 200 at once)`))))
	}
	_, err := kubectl("get", "apikey", "e2e-too-much", "-n", "default")
	g.Expect(err).To(MatchError(ContainSubstring("NotFound")))
}

// The manager runs with its default --default-policy=deny: in a namespace
// no KeyPolicy selects, a key is refused, and the refusal says how to
// allow keys there.
func TestKeysNeedAPolicyThatSelectsTheirNamespace(t *testing.T) {
	g := NewWithT(t)
	manifest := `apiVersion: v1
kind: Namespace
metadata:
  name: keyward-e2e-ungoverned
---
apiVersion: keyward.dev/v1alpha1
kind: APIKey
metadata:
  name: e2e-nowhere
  namespace: keyward-e2e-ungoverned
spec:
  owner: e2e
  scopes: [acme/payments/investigations:read]
`
	_, err := kubectlIn(manifest, "apply", "-f", "-")
	g.Expect(err).To(MatchError(SatisfyAll(
		ContainSubstring(`metadata.namespace: Forbidden: no KeyPolicy selects namespace "keyward-e2e-ungoverned"`),
		ContainSubstring("create a KeyPolicy whose namespaceSelector selects it, or run the manager with --default-policy=allow"))))
	_, err = kubectl("get", "apikey", "e2e-nowhere", "-n", "keyward-e2e-ungoverned")
	g.Expect(err).To(MatchError(ContainSubstring("NotFound")))
}
