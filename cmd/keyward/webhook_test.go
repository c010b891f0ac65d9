package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/manager"
)

// TestSelfManagedWebhookCertificates runs the manager's webhook wiring in
// self-managed mode against a real API server, with the test in the
// kubelet's place (copying the Secret into the cert dir): the rotator fills
// the Secret, readiness waits for the files and the CA injection, and the
// webhook server then serves, with a certificate the injected CA verifies
// for the Service's DNS name, every path config/webhook/manifests.yaml names.
func TestSelfManagedWebhookCertificates(t *testing.T) {
	g := NewWithT(t)
	paths := generatedWebhookPaths(t)
	ctx, cfg, k8s := sharedAPIServer(t)
	o := testWebhookOptions(t, certModeSelfManaged)
	// What config/default applies: the namespace, the empty Secret and a
	// webhook configuration without caBundle (matching nothing the test
	// writes, so the API server never calls it).
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: o.managerNamespace, Name: o.webhookSecretName}}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.managerNamespace}},
		secret,
		testWebhookConfiguration(o),
	} {
		g.Expect(k8s.Create(ctx, obj)).To(Succeed())
	}
	mgrDone := startWebhookManager(t, ctx, cfg, o)

	// The rotator fills the Secret; the files are not there yet, so the
	// manager must not be ready.
	waitFor(t, mgrDone, 30*time.Second, "the rotator to fill the Secret", func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret); err != nil {
			return err
		}
		for _, k := range []string{"ca.crt", "ca.key", "tls.crt", "tls.key"} {
			if len(secret.Data[k]) == 0 {
				return fmt.Errorf("no %s yet", k)
			}
		}
		return nil
	})
	readyz := "http://" + o.probeAddr + "/readyz"
	waitFor(t, mgrDone, 30*time.Second, "/readyz to answer", func() error {
		err := httpOK(readyz)
		if err == nil {
			return StopTrying("/readyz is OK before the certificate files exist")
		}
		var status httpStatus
		if !errors.As(err, &status) {
			return err // not answering yet
		}
		return nil
	})

	// The kubelet's part: the Secret's keys as files in the cert dir.
	for k, v := range secret.Data {
		g.Expect(os.WriteFile(filepath.Join(o.webhookCertDir, k), v, 0o600)).To(Succeed())
	}
	waitFor(t, mgrDone, 60*time.Second, "/readyz", func() error { return httpOK(readyz) })

	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: o.webhookConfigName}, vwc)).To(Succeed())
	for _, w := range vwc.Webhooks {
		g.Expect(w.ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]), "webhook %s: caBundle is not the rotator's CA", w.Name)
	}
	checkServed(t, o, vwc.Webhooks[0].ClientConfig.CABundle, paths)
}

// TestExternalWebhookCertificates: with the files in place (as cert-manager
// mounts them), the webhook serves from the start and no rotator touches
// anything.
func TestExternalWebhookCertificates(t *testing.T) {
	g := NewWithT(t)
	paths := generatedWebhookPaths(t)
	ctx, cfg, _ := sharedAPIServer(t)
	o := testWebhookOptions(t, certModeExternal)
	issuer := &rotator.CertRotator{
		CAName:       "test-ca",
		DNSName:      o.webhookServiceName + "." + o.managerNamespace + ".svc",
		ExtKeyUsages: &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	now := time.Now()
	ca, err := issuer.CreateCACert(now.Add(-time.Hour), now.Add(time.Hour))
	g.Expect(err).NotTo(HaveOccurred())
	certPEM, keyPEM, err := issuer.CreateCertPEM(ca, now.Add(-time.Hour), now.Add(time.Hour))
	g.Expect(err).NotTo(HaveOccurred())
	for name, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		g.Expect(os.WriteFile(filepath.Join(o.webhookCertDir, name), data, 0o600)).To(Succeed())
	}
	mgrDone := startWebhookManager(t, ctx, cfg, o)
	waitFor(t, mgrDone, 60*time.Second, "/readyz", func() error { return httpOK("http://" + o.probeAddr + "/readyz") })
	checkServed(t, o, ca.CertPEM, paths)
}

// sharedAPIServer gives the test the package's API server (TestMain starts
// it), and a manager log that the test prints if it fails.
func sharedAPIServer(t *testing.T) (context.Context, *rest.Config, client.Client) {
	t.Helper()
	if env == nil {
		t.Skip("needs envtest's kube-apiserver and etcd: run make test")
	}
	g := NewWithT(t)
	logs := &testutil.SyncBuffer{}
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true)))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("manager log:\n%s", logs.String())
		}
	})
	cfg := env.Config
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	k8s, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	return ctx, cfg, k8s
}

// testWebhookOptions name a manager namespace and a webhook configuration
// of the test's own, as the package's tests share one API server.
func testWebhookOptions(t *testing.T, mode string) managerOptions {
	n := strconv.Itoa(int(testObjects.Add(1)))
	return managerOptions{
		metricsAddr:        "0",
		probeAddr:          "127.0.0.1:" + strconv.Itoa(freePort(t)),
		enableWebhooks:     true,
		webhookCertMode:    mode,
		webhookPort:        freePort(t),
		webhookCertDir:     t.TempDir(),
		webhookSecretName:  defaultWebhookSecretName,
		webhookServiceName: defaultWebhookServiceName,
		webhookConfigName:  defaultWebhookConfigName + "-" + n,
		managerNamespace:   "keyward-system-" + n,
		verifierNamespace:  "keyward-verifier",
		defaultAllow:       true,
	}
}

// startWebhookManager wires a manager as runManager does, webhooks only,
// and starts it; the test's cleanup stops it.
func startWebhookManager(t *testing.T, ctx context.Context, cfg *rest.Config, o managerOptions) chan error {
	t.Helper()
	g := NewWithT(t)
	var certsReady chan struct{}
	if o.webhookCertMode == certModeSelfManaged {
		certsReady = make(chan struct{})
	}
	mgr, err := ctrl.NewManager(cfg, managerConfig(o, newWebhookServer(o, certsReady)))
	g.Expect(err).NotTo(HaveOccurred())
	_, err = manager.Setup(mgr, manager.Options{
		Parts: manager.Webhooks, VerifierNamespace: o.verifierNamespace, DefaultAllow: o.defaultAllow, Audit: audit.Discard{},
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(setupWebhookServing(mgr, o, certsReady)).To(Succeed())
	ctx, cancel := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		g.Expect(<-mgrDone).To(Succeed(), "manager")
	})
	return mgrDone
}

// checkServed calls every path as the API server would: through the
// Service's DNS name, trusting caPEM.
func checkServed(t *testing.T, o managerOptions, caPEM []byte, paths []string) {
	t.Helper()
	g := NewWithT(t)
	roots := x509.NewCertPool()
	g.Expect(roots.AppendCertsFromPEM(caPEM)).To(BeTrue(), "no certificate in the CA bundle")
	httpClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:    roots,
		ServerName: o.webhookServiceName + "." + o.managerNamespace + ".svc",
	}}}
	for _, path := range paths {
		url := "https://127.0.0.1:" + strconv.Itoa(o.webhookPort) + path
		resp, err := httpClient.Post(url, "application/json", strings.NewReader("{}"))
		g.Expect(err).NotTo(HaveOccurred(), "POST %s", path)
		resp.Body.Close()
		// A registered admission webhook answers a malformed review
		// inside a 200 response; an unknown path is a 404.
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK),
			"POST %s: %s; is the path in config/webhook/manifests.yaml registered by webhook.Setup?", path, resp.Status)
	}
}

func TestWebhookFlags(t *testing.T) {
	g := NewWithT(t)
	for _, args := range [][]string{
		{"--default-policy=maybe"},
		{"--webhook-cert-mode=manual"},
	} {
		flagName := strings.SplitN(args[0], "=", 2)[0]
		g.Expect(runManager(args)).To(MatchError(ContainSubstring(flagName)), "runManager(%q): want an error naming the flag", args)
	}
}

// generatedWebhookPaths reads the paths the API server calls from the
// generated webhook configuration.
func generatedWebhookPaths(t *testing.T) []string {
	t.Helper()
	g := NewWithT(t)
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "webhook", "manifests.yaml"))
	g.Expect(err).NotTo(HaveOccurred(), "run make manifests")
	var paths []string
	for _, doc := range strings.Split(string(data), "\n---") {
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		g.Expect(yaml.Unmarshal([]byte(doc), &vwc)).To(Succeed())
		for _, w := range vwc.Webhooks {
			g.Expect(w.ClientConfig.Service).NotTo(BeNil(), "webhook %s has no service path", w.Name)
			g.Expect(w.ClientConfig.Service.Path).NotTo(BeNil(), "webhook %s has no service path", w.Name)
			paths = append(paths, *w.ClientConfig.Service.Path)
		}
	}
	g.Expect(paths).NotTo(BeEmpty(), "config/webhook/manifests.yaml names no webhook")
	return paths
}

func testWebhookConfiguration(o managerOptions) *admissionregistrationv1.ValidatingWebhookConfiguration {
	none := admissionregistrationv1.SideEffectClassNone
	hook := func(name string) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name:                    name,
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: o.managerNamespace, Name: o.webhookServiceName, Path: ptr.To("/validate"),
			}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{"test.keyward.dev"}, APIVersions: []string{"v1"}, Resources: []string{"widgets"},
				},
			}},
		}
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: o.webhookConfigName},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{hook("one.test.keyward.dev"), hook("two.test.keyward.dev")},
	}
}

// testObjects numbers the namespaces and cluster-scoped objects the tests
// create, each test its own.
var testObjects atomic.Int64

// testNamespace is a namespace name of the test's own.
func testNamespace(prefix string) string {
	return prefix + "-" + strconv.Itoa(int(testObjects.Add(1)))
}

func freePort(t *testing.T) int {
	t.Helper()
	g := NewWithT(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func httpOK(url string) error {
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httpStatus(resp.Status)
	}
	return nil
}

// httpStatus is an answer other than 200 OK.
type httpStatus string

func (s httpStatus) Error() string { return string(s) }

// waitFor polls check until it succeeds, failing the test on timeout or if
// the manager exits. check can end the wait at once by returning StopTrying.
func waitFor(t *testing.T, mgrDone chan error, timeout time.Duration, what string, check func() error) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case mErr := <-mgrDone:
			mgrDone <- mErr
			return StopTrying(fmt.Sprintf("the manager exited: %v", mErr))
		default:
		}
		return err
	}).WithTimeout(timeout).WithPolling(250*time.Millisecond).Should(Succeed(), "waiting for %s", what)
}
