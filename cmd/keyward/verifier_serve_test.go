package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	usagereport "github.com/keyward-dev/keyward/internal/usage"
	"github.com/keyward-dev/keyward/internal/verifierflags"
)

// TestVerifierServesFromRecordSecrets runs the verifier as the command
// wires it (its three servers, the record watch, metrics and the audit log)
// against a real API server, with a record Secret written by hand as the
// manager would write it.
func TestVerifierServesFromRecordSecrets(t *testing.T) {
	ctx, cfg, k8s := sharedAPIServer(t)
	g := NewWithT(t)
	ns := testNamespace("keyward-system")
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())

	key, err := keys.Generate("")
	g.Expect(err).NotTo(HaveOccurred())
	hasher, err := keys.NewHasher(1000, true)
	g.Expect(err).NotTo(HaveOccurred())
	phc, err := hasher.Hash(key)
	g.Expect(err).NotTo(HaveOccurred())
	data, err := record.Encode(record.Record{
		Schema: record.Schema, KeyID: key.ID(), Owner: "15a6", State: record.Active, Version: 1,
		APIKey:  record.APIKeyRef{UID: "uid-1", Namespace: "payments", Name: "fraud-reporting"},
		Secrets: []record.Secret{{Serial: "1", Hash: phc, NotBefore: time.Now().Add(-time.Minute).UTC().Truncate(time.Second)}},
		Scopes:  []string{"acme/payments/investigations:read"},
	})
	g.Expect(err).NotTo(HaveOccurred())
	rec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: record.SecretName(key.ID()), Labels: map[string]string{record.RecordLabel: "true"}},
		Data:       map[string][]byte{record.DataKey: data},
	}
	g.Expect(k8s.Create(ctx, rec)).To(Succeed())

	o := testVerifierOptions(t, ns)
	o.usageInterval = 100 * time.Millisecond
	t.Setenv("POD_NAME", "verifier-0")
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serveVerifier(serveCtx, o, cfg, logr.Discard()) }()
	waitFor(t, done, 30*time.Second, "/readyz", func() error { return httpOK("http://" + o.ProbeAddr + "/readyz") })

	decide := func(g Gomega) map[string]any {
		body := `{"subject":{"credential":"` + key.Plaintext() + `"},"resource":{"org":"acme","project":"payments","type":"investigations"},"action":{"id":"read"}}`
		resp, err := http.Post("http://"+o.BindAddr+"/v1/decision", "application/json", strings.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		var out map[string]any
		g.Expect(json.NewDecoder(resp.Body).Decode(&out)).To(Succeed())
		return out
	}
	g.Expect(decide(g)).To(HaveKeyWithValue("decision", "Permit"))

	resp, err := http.Get("http://" + o.MetricsAddr + "/metrics")
	g.Expect(err).NotTo(HaveOccurred())
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	g.Expect(string(metrics)).To(ContainSubstring(`keyward_verifier_decisions_total{decision="Permit",reason="allowed"} 1`))
	g.Expect(string(metrics)).To(ContainSubstring("keyward_verifier_records 1"))
	g.Expect(string(metrics)).NotTo(ContainSubstring(key.ID()))

	// The usage reporter runs: its first report, with nothing counted yet,
	// is written whatever the usage.
	g.Eventually(func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "keyward-usage-verifier-0"}, &corev1.ConfigMap{})
	}).WithTimeout(10 * time.Second).Should(Succeed())

	// The activity reporter runs too, and its report carries the permit.
	g.Eventually(func(g Gomega) {
		var cm corev1.ConfigMap
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "keyward-activity-verifier-0"}, &cm)).To(Succeed())
		r, err := usagereport.DecodeActivity([]byte(cm.Data[usagereport.ActivityDataKey]))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(r.Keys).To(HaveKeyWithValue(key.ID(), ContainElement(HaveField("Permits", BeEquivalentTo(1)))))
	}).WithTimeout(10 * time.Second).Should(Succeed())

	// Deleting the record reaches the verifier through its watch.
	g.Expect(k8s.Delete(ctx, rec)).To(Succeed())
	g.Eventually(decide).WithTimeout(10 * time.Second).Should(HaveKeyWithValue("reason", "unknown_key"))

	stop()
	g.Eventually(done).WithTimeout(15 * time.Second).Should(Receive(BeNil()))
	trail, err := os.ReadFile(o.auditLog)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(trail)).To(ContainSubstring(`"action":"first_use"`))
	g.Expect(string(trail)).To(ContainSubstring(`"reason":"unknown_key"`))
	g.Expect(string(trail)).NotTo(ContainSubstring(key.Plaintext()))
}

// Two verifiers with --reuse-port share all three ports, as two replicas
// on one node's network do; when one stops, the other keeps answering on
// the same address.
func TestTwoVerifiersShareTheirPortsWithReusePort(t *testing.T) {
	ctx, cfg, k8s := sharedAPIServer(t)
	g := NewWithT(t)
	ns := testNamespace("keyward-system")
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	o := testVerifierOptions(t, ns)
	o.ReusePort = true
	var stops []context.CancelFunc
	var dones []chan error
	for range 2 {
		serveCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- serveVerifier(serveCtx, o, cfg, logr.Discard()) }()
		stops, dones = append(stops, stop), append(dones, done)
	}
	decide := func() error {
		resp, err := http.Post("http://"+o.BindAddr+"/v1/decision", "application/json",
			strings.NewReader(`{"subject":{"credential":"keyward_unknown"},"resource":{"org":"acme","project":"payments","type":"investigations"},"action":{"id":"read"}}`))
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	for _, done := range dones {
		waitFor(t, done, 30*time.Second, "the decision API", decide)
	}

	stops[0]()
	g.Eventually(dones[0]).WithTimeout(15 * time.Second).Should(Receive(BeNil()))
	g.Consistently(dones[1]).WithTimeout(time.Second).ShouldNot(Receive(), "the second verifier bound every port too")
	g.Expect(decide()).To(Succeed())
	g.Expect(httpOK("http://" + o.ProbeAddr + "/readyz")).To(Succeed())
	stops[1]()
	g.Eventually(dones[1]).WithTimeout(15 * time.Second).Should(Receive(BeNil()))
}

// testVerifierOptions are the command's defaults, on free loopback ports,
// for the verifier of namespace ns.
func testVerifierOptions(t *testing.T, ns string) verifierOptions {
	return verifierOptions{
		Flags: verifierflags.Flags{
			Namespace:   ns,
			BindAddr:    "127.0.0.1:" + strconv.Itoa(freePort(t)),
			PublicAddr:  "127.0.0.1:" + strconv.Itoa(freePort(t)),
			ProbeAddr:   "127.0.0.1:" + strconv.Itoa(freePort(t)),
			MetricsAddr: "127.0.0.1:" + strconv.Itoa(freePort(t)),
		},
		auditLog:  filepath.Join(t.TempDir(), "audit.log"),
		hashQueue: 64, hashWait: time.Second, cache: 1000, freeFailures: 3,
		backoffBase: time.Second, backoffMax: time.Minute, maxStaleness: time.Minute, heartbeat: time.Second,
	}
}
