package outage

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/test/integration/harness"
	"github.com/keyward-dev/keyward/verifier"
)

func newNamespace(g *WithT) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "outage-"}}
	g.Expect(k8s.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}

// applyKey creates an APIKey that may read investigations and returns its
// plaintext from the delivery Secret, as its consumer reads it.
func applyKey(g *WithT, ns, name string, rotation *keywardv1.Rotation) string {
	return applyKeySpec(g, ns, name, keywardv1.APIKeySpec{
		Owner: "15a6", Scopes: []keywardv1.Scope{"acme/payments/investigations:read"}, Rotation: rotation,
	})
}

// applyKeySpec creates an APIKey of spec and returns its plaintext from
// the delivery Secret.
func applyKeySpec(g *WithT, ns, name string, spec keywardv1.APIKeySpec) string {
	ctx := context.Background()
	key := &keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	g.Expect(k8s.Create(ctx, key)).To(Succeed())
	var plain string
	g.Eventually(func(g Gomega) { plain = deliveredKey(g, ns, name) }).WithTimeout(waitFor).Should(Succeed())
	return plain
}

// deliveredKey is the plaintext key in a key's delivery Secret.
func deliveredKey(g Gomega, ns, name string) string {
	var secret corev1.Secret
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &secret)).To(Succeed())
	g.Expect(secret.Data["key"]).NotTo(BeEmpty())
	return string(secret.Data["key"])
}

func getKey(g Gomega, ns, name string) *keywardv1.APIKey {
	k := &keywardv1.APIKey{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, k)).To(Succeed())
	return k
}

// revoke revokes a key through the API server directly, and returns once
// the manager has published the revoked record, so that the revocation is
// made whatever a verifier saw of it.
func revoke(g *WithT, ns, name string) {
	var keyID string
	g.Eventually(func(g Gomega) {
		keyID = getKey(g, ns, name).Status.KeyID
		g.Expect(keyID).NotTo(BeEmpty())
	}).WithTimeout(waitFor).Should(Succeed())
	key := &keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	g.Expect(k8s.Patch(context.Background(), key, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"revoked":true}}`)))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(publishedRecord(g, keyID).State).To(Equal(record.Revoked))
	}).WithTimeout(waitFor).Should(Succeed())
}

// publishedRecord is the key's record as the API server holds it.
func publishedRecord(g Gomega, keyID string) record.Record {
	sec := &corev1.Secret{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: verifierNamespace, Name: record.SecretName(keyID)}, sec)).To(Succeed())
	rec, err := record.Decode(sec.Data[record.DataKey])
	g.Expect(err).NotTo(HaveOccurred())
	return rec
}

// startVerifier runs a verifier as the verifier's ServiceAccount, talking
// to the API server of cfg (the real one or a proxy), with a heartbeat
// every second, and waits until it has loaded its records.
func startVerifier(t *testing.T, g *WithT, cfg *rest.Config, maxStaleness time.Duration) *harness.Verifier {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := harness.StartVerifier(ctx, cfg, harness.VerifierOptions{
		Namespace: verifierNamespace, User: verifierUser, Audit: io.Discard, MaxStaleness: maxStaleness,
		Config: verifier.Config{TrustedCallers: []string{"127.0.0.0/8"}},
	})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(v.Stop)
	g.Eventually(v.Watch.Ready).WithTimeout(waitFor).Should(BeTrue())
	return v
}

// decide asks the verifier's decision API whether key may read an
// investigation.
func decide(v *harness.Verifier, key string) (verifier.Decision, error) {
	body, err := json.Marshal(map[string]any{
		"subject":  map[string]string{"credential": key},
		"resource": map[string]string{"org": "acme", "project": "payments", "type": "investigations", "id": "INV-7"},
		"action":   map[string]string{"id": "read"},
	})
	if err != nil {
		return verifier.Decision{}, err
	}
	resp, err := http.Post(v.URL+verifier.DecisionPath, "application/json", bytes.NewReader(body))
	if err != nil {
		return verifier.Decision{}, err
	}
	defer resp.Body.Close()
	var d verifier.Decision
	err = json.NewDecoder(resp.Body).Decode(&d)
	return d, err
}

// eventually waits until the verifier answers with want for key, and
// returns when it first did.
func eventually(g *WithT, v *harness.Verifier, key string, want verifier.Reason, within time.Duration) time.Time {
	var at time.Time
	g.Eventually(func(g Gomega) {
		d, err := decide(v, key)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(d.Reason).To(Equal(want))
		at = time.Now()
	}).WithTimeout(within).WithPolling(10 * time.Millisecond).Should(Succeed())
	return at
}

func readyz(v *harness.Verifier) int {
	code, _ := readiness(v)
	return code
}

// readiness is the verifier's /readyz answer: its status and its text.
func readiness(v *harness.Verifier) (int, string) {
	rec := httptest.NewRecorder()
	v.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec.Code, rec.Body.String()
}

// answer is one decision, with when it was asked for and when it came.
type answer struct {
	sent, came time.Time
	verifier.Decision
}

// trafficInterval paces traffic: busy enough to see every change of
// answer, without taking the CPUs the API server needs.
const trafficInterval = 5 * time.Millisecond

// traffic asks a verifier about one key every trafficInterval, as a busy
// client does, and keeps every answer.
type traffic struct {
	mu      sync.Mutex
	answers []answer
	errs    int
	stop    context.CancelFunc
	done    chan struct{}
}

func serve(v *harness.Verifier, key string) *traffic {
	ctx, stop := context.WithCancel(context.Background())
	tr := &traffic{stop: stop, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		pace := time.NewTicker(trafficInterval)
		defer pace.Stop()
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-pace.C:
			}
			sent := time.Now()
			d, err := decide(v, key)
			tr.mu.Lock()
			if err != nil {
				tr.errs++
			} else {
				tr.answers = append(tr.answers, answer{sent: sent, came: time.Now(), Decision: d})
			}
			tr.mu.Unlock()
		}
	}()
	return tr
}

// end stops the traffic and returns every answer.
func (tr *traffic) end() ([]answer, int) {
	tr.stop()
	<-tr.done
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.answers, tr.errs
}
