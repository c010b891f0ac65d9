package usageanalytics

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/verifier"
)

const (
	owner = "15a6"
	// resource is what every request asks for; the keys may read it,
	// so a GET is permitted and a POST denied after the key verified.
	resource = "/acme/payments/investigations/INV-7"
	scope    = "acme/payments/investigations:read"
)

// namespace creates a namespace for one test; with a response, a KeyPolicy
// selecting only it asks for that response of its keys.
func (s *stack) namespace(t *testing.T, g *WithT, response *keywardv1.AnomalyResponse) string {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "an-"}}
	g.Expect(s.k8s.Create(ctx, ns)).To(Succeed())
	if response != nil {
		ns.Labels = map[string]string{"anomaly-policy": ns.Name}
		g.Expect(s.k8s.Update(ctx, ns)).To(Succeed())
		policy := &keywardv1.KeyPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "anomalies-" + ns.Name},
			Spec: keywardv1.KeyPolicySpec{
				NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"anomaly-policy": ns.Name}},
				AnomalyResponse:   response,
			},
		}
		g.Expect(s.k8s.Create(ctx, policy)).To(Succeed())
		t.Cleanup(func() { _ = s.k8s.Delete(ctx, policy) })
	}
	return ns.Name
}

// liveKey is a key every replica knows, with no traffic yet: it returns
// the plaintext, as the key's consumer reads it, and the key ID. When the
// test ends its history is dropped, so that later tests' stepped hours do
// not judge it.
func (s *stack) liveKey(t *testing.T, g *WithT, ns, name string) (string, string) {
	t.Helper()
	ctx := context.Background()
	g.Expect(s.k8s.Create(ctx, &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       keywardv1.APIKeySpec{Owner: owner, Scopes: []keywardv1.Scope{scope}},
	})).To(Succeed())
	var secret corev1.Secret
	g.Eventually(func() error {
		return s.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &secret)
	}).WithTimeout(waitFor).Should(Succeed())
	var id string
	g.Eventually(func(g Gomega) {
		id = s.apiKey(g, ns, name).Status.KeyID
		g.Expect(id).NotTo(BeEmpty())
		for _, v := range s.verifiers {
			_, known := v.Index.Lookup(id)
			g.Expect(known).To(BeTrue())
		}
	}).WithTimeout(waitFor).Should(Succeed())
	t.Cleanup(func() { s.store.Forget(id) })
	return string(secret.Data["key"]), id
}

func (s *stack) apiKey(g Gomega, ns, name string) *keywardv1.APIKey {
	k := &keywardv1.APIKey{}
	g.Expect(s.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, k)).To(Succeed())
	return k
}

// send asks replica r about one request, as nginx's auth_request does for
// a client at addr, and returns the reason of the decision.
func (s *stack) send(g Gomega, r int, plain, method, addr string) verifier.Reason {
	reason, err := s.decide(r, plain, method, addr)
	g.Expect(err).NotTo(HaveOccurred())
	return reason
}

func (s *stack) decide(r int, plain, method, addr string) (verifier.Reason, error) {
	req, err := http.NewRequest(http.MethodGet, s.verifiers[r].URL+verifier.NginxPath, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-Original-Method", method)
	req.Header.Set("X-Original-Uri", resource)
	req.Header.Set("X-Forwarded-For", addr)
	req.Header.Set("Authorization", "Bearer "+plain)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return verifier.ReasonAllowed, nil
	}
	var body struct {
		Reason verifier.Reason `json:"reason"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("decision %d without a reason: %w", resp.StatusCode, err)
	}
	return body.Reason, nil
}

// sendN sends n requests to replica r and expects each decided for want.
func (s *stack) sendN(g Gomega, r, n int, plain, method, addr string, want verifier.Reason) {
	for range n {
		g.Expect(s.send(g, r, plain, method, addr)).To(Equal(want))
	}
}

// strangers counts the addresses stranger handed out.
var strangers atomic.Int32

// stranger is an address in New Zealand that sent no request yet: the
// verifiers' backoff remembers the failures of each address, for as long
// as a package run.
func stranger() string {
	return fmt.Sprintf("203.0.113.%d", 100+strangers.Add(1)%150)
}

// wrongSecret is the key's ID with a secret of someone's guessing.
func wrongSecret(g Gomega, keyID string) string {
	k, err := keys.Generate(keyID)
	g.Expect(err).NotTo(HaveOccurred())
	return k.Plaintext()
}

// expectDeniedEverywhere waits until every replica decides the key's
// request for want, for at most within.
func (s *stack) expectDeniedEverywhere(g *WithT, plain string, want verifier.Reason, within time.Duration) {
	g.Eventually(func(g Gomega) {
		for r := range s.verifiers {
			g.Expect(s.send(g, r, plain, http.MethodGet, home)).To(Equal(want))
		}
	}).WithTimeout(within).WithPolling(10 * time.Millisecond).Should(Succeed())
}

// stepTo sets the stepped clock to at and waits for the aggregator's pass
// at that time; the verifiers' reporters tick with it.
func (s *stack) stepTo(g Gomega, at time.Time) {
	passes := s.usage.Passes()
	s.clock.SetTime(at)
	g.Eventually(s.usage.Passes).WithTimeout(waitFor).Should(BeNumerically(">", passes))
}

// nextMinute steps to a second into the next minute and returns it: the
// traffic a test sends next is counted in that minute.
func (s *stack) nextMinute(g Gomega) time.Time {
	m := s.clock.Now().Truncate(time.Minute).Add(time.Minute)
	s.stepTo(g, m.Add(time.Second))
	return m
}

// closeMinute lets minute m end, waits until the verifiers' activity of it
// reached the aggregation (the requests each key of want was sent in it,
// over all replicas), and lets it close: the aggregator commits it, runs
// the detectors and writes status.usage in that pass.
func (s *stack) closeMinute(g Gomega, m time.Time, want map[string]uint64) {
	s.endMinute(g, m, want)
	s.commitMinute(g, m)
}

// endMinute is closeMinute up to the commit: the verifiers' activity of
// minute m has reached the aggregation, and the clock is past m.
func (s *stack) endMinute(g Gomega, m time.Time, want map[string]uint64) {
	s.stepTo(g, m.Add(time.Minute+time.Second))
	g.Eventually(func(g Gomega) {
		got, _, err := s.usage.Source.Minutes(context.Background(), m.Add(-time.Minute), m)
		g.Expect(err).NotTo(HaveOccurred())
		for id, n := range want {
			var requests uint64
			for _, minute := range got[id] {
				requests += minute.Requests()
			}
			g.Expect(requests).To(Equal(n), "requests of key %s in %s", id, m)
		}
	}).WithTimeout(waitFor).Should(Succeed())
}

// commitMinute is the rest of closeMinute: the aggregator commits minute m.
func (s *stack) commitMinute(g Gomega, m time.Time) {
	s.stepTo(g, m.Add(time.Minute+closeAfter+time.Second))
}

// seed commits days of a key's past use into the manager's history, a
// request a minute from home, up to (not including) minute end: the
// baseline detectors judge a key against days of its own use, which a
// test cannot send in real time. The traffic they judge is sent for real.
func (s *stack) seed(keyID string, days int, end time.Time) { s.seedN(keyID, days, end, 1) }

// seedN is seed with n requests a minute.
func (s *stack) seedN(keyID string, days int, end time.Time, n uint32) {
	for at := end.Add(-time.Duration(days) * 24 * time.Hour); at.Before(end); at = at.Add(time.Minute) {
		s.store.Commit(keyID, analytics.Minute{
			Start: at, Permits: n,
			Countries: []analytics.Count{{Value: "DE", N: n}},
			Networks:  []analytics.Count{{Value: "192.0.2.0/24", N: n}},
		})
	}
}
