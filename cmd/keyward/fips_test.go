package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/fipsmode"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/internal/verifierflags"
	"github.com/keyward-dev/keyward/verifier"
)

// fipsBinary is the binary `make build-fips` builds with the Go
// Cryptographic Module, which `make test` builds first and names in
// KEYWARD_FIPS_BINARY: the test runs the artifact that ships, built with
// the module version the Makefile names, and no other.
func fipsBinary(t *testing.T) string {
	return testutil.BuiltProgram(t, "keyward-fips", "KEYWARD_FIPS_BINARY", "build-fips")
}

// runFIPS runs the FIPS binary with no cluster in reach (no kubeconfig, no
// in-cluster service account), so that a command that passes its FIPS
// check stops at loading the kubeconfig instead.
func runFIPS(t *testing.T, godebug string, args ...string) (string, error) {
	home := t.TempDir()
	cmd := exec.Command(fipsBinary(t), args...)
	cmd.Env = []string{"HOME=" + home, "KUBECONFIG=" + filepath.Join(home, "none"), "PATH=" + os.Getenv("PATH")}
	if godebug != "" {
		cmd.Env = append(cmd.Env, "GODEBUG="+godebug)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

const notCluster = "loading kubeconfig"

func TestFIPSBinaryRefusesTooFewPBKDF2Iterations(t *testing.T) {
	g := NewWithT(t)
	args := []string{"manager", "--deploy-verifier=false", "--insecure-allow-low-pbkdf2-iterations", "--pbkdf2-iterations=10"}

	out, err := runFIPS(t, "", args...)
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(ContainSubstring("keyward manager: refusing to start in FIPS 140-3 mode (Go Cryptographic Module v"))
	g.Expect(out).To(ContainSubstring("--pbkdf2-iterations: 10 PBKDF2 iterations; FIPS mode needs at least 1000 (NIST SP 800-132)"))
	g.Expect(out).NotTo(ContainSubstring(notCluster), "nothing connects before the check")

	// The same binary with FIPS mode turned off at run time lets the
	// setting through: the refusal is FIPS mode's, not the build's.
	out, err = runFIPS(t, "fips140=off", args...)
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(ContainSubstring(notCluster))
	g.Expect(out).NotTo(ContainSubstring("FIPS"))

	// keyward's defaults pass, also where the module enforces its rules.
	for _, godebug := range []string{"", "fips140=only"} {
		out, err = runFIPS(t, godebug, "manager", "--deploy-verifier=false")
		g.Expect(err).To(HaveOccurred())
		g.Expect(out).To(ContainSubstring(notCluster), "GODEBUG=%s", godebug)
		g.Expect(out).NotTo(ContainSubstring("FIPS"))
	}
}

func TestFIPSBinaryRefusesAnRSA1024Certificate(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	g.Expect(err).NotTo(HaveOccurred())
	ca := testutil.NewCA(t, "client CA")
	caFile := ca.WriteFile(t, dir, "client-ca")
	weakCert, weakKey := ca.Issue(t, testutil.CertOptions{CommonName: "weak", Key: small}).WriteFiles(t, dir, "weak")
	goodCert, goodKey := ca.Issue(t, testutil.CertOptions{CommonName: "good"}).WriteFiles(t, dir, "good")

	out, err := runFIPS(t, "", "verifier", "--"+verifierflags.TLSCertFlag+"="+weakCert, "--"+verifierflags.TLSKeyFlag+"="+weakKey)
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(ContainSubstring("keyward verifier: refusing to start in FIPS 140-3 mode"))
	g.Expect(out).To(ContainSubstring("--" + verifierflags.TLSCertFlag + " " + weakCert + ", certificate 1 (CN=weak): an RSA key of 1024 bits; FIPS mode needs at least 2048 bits"))
	g.Expect(out).NotTo(ContainSubstring("PRIVATE KEY"))

	out, err = runFIPS(t, "", "verifier", "--"+verifierflags.TLSCertFlag+"="+goodCert, "--"+verifierflags.TLSKeyFlag+"="+goodKey,
		"--"+verifierflags.TLSClientAuthFlag+"=required", "--"+verifierflags.TLSClientCAFlag+"="+caFile)
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(ContainSubstring(notCluster))
	g.Expect(out).NotTo(ContainSubstring("FIPS"))

	// The manager's webhook certificate in external mode (cert-manager's
	// Secret, mounted before the process starts).
	webhookDir := t.TempDir()
	ca.Issue(t, testutil.CertOptions{CommonName: "keyward-webhook-service.keyward-system.svc", Key: small}).WriteFiles(t, webhookDir, "tls")
	out, err = runFIPS(t, "", "manager", "--deploy-verifier=false", "--webhook-cert-mode=external", "--webhook-cert-dir="+webhookDir)
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(ContainSubstring("keyward manager: refusing to start in FIPS 140-3 mode"))
	g.Expect(out).To(ContainSubstring("--webhook-cert-dir " + filepath.Join(webhookDir, "tls.crt") +
		", certificate 1 (CN=keyward-webhook-service.keyward-system.svc): an RSA key of 1024 bits; FIPS mode needs at least 2048 bits"))
}

// The manager judges the webhook certificate only where it is given one
// before it starts: in external mode, once the file is there.
func TestManagerFIPSSettingsReadTheExternalWebhookCertificate(t *testing.T) {
	g := NewWithT(t)
	o := testWebhookOptions(t, certModeExternal)
	s, err := managerFIPSSettings(o)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*s.PBKDF2).To(Equal(fipsmode.PBKDF2{Setting: "--pbkdf2-iterations", Iterations: 600_000, SaltBytes: 16, KeyBytes: 32}))
	g.Expect(s.Keys).To(BeEmpty(), "no file yet: controller-runtime reports it")

	testutil.NewCA(t, "webhook CA").Issue(t, testutil.CertOptions{CommonName: "webhook"}).WriteFiles(t, o.webhookCertDir, "tls")
	s, err = managerFIPSSettings(o)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Keys).To(HaveLen(1))
	g.Expect(s.Keys[0].Setting).To(Equal("--webhook-cert-dir " + filepath.Join(o.webhookCertDir, "tls.crt") + ", certificate 1 (CN=webhook)"))

	o.webhookCertMode = certModeSelfManaged
	s, err = managerFIPSSettings(o)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Keys).To(BeEmpty(), "a self-managed certificate is the manager's own")
}

// Every certificate the verifier is given reaches the FIPS check, named by
// the flag or configuration field that gave it.
func TestVerifierFIPSSettingsNameEveryCertificate(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	ca := testutil.NewCA(t, "corp CA")
	caFile := ca.WriteFile(t, dir, "corp-ca")
	certFile, keyFile := ca.Issue(t, testutil.CertOptions{CommonName: "verifier"}).WriteFiles(t, dir, "serving")
	redisCert, redisKey := ca.Issue(t, testutil.CertOptions{CommonName: "redis client"}).WriteFiles(t, dir, "redis")
	flags := verifierflags.Flags{TLS: verifierflags.TLS{
		CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile, ClientAuth: "required",
		PublicClientAuth: "optional", PublicClientCAFile: caFile,
	}}
	conf := verifier.Config{
		ClientCertificates: verifier.ClientCertificates{Authorities: []verifier.CertificateAuthority{{Name: "corp", CAFile: caFile}}},
		RateLimits:         verifier.RateLimits{Redis: &verifier.RedisConfig{TLS: &verifier.RedisTLS{CAFile: caFile, CertFile: redisCert, KeyFile: redisKey}}},
	}
	s, err := verifierFIPSSettings(flags, conf)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.PBKDF2).To(BeNil())
	var settings []string
	for _, k := range s.Keys {
		g.Expect(k.Public).NotTo(BeNil())
		settings = append(settings, k.Setting)
	}
	g.Expect(settings).To(Equal([]string{
		"--tls-cert-file " + certFile + ", certificate 1 (CN=verifier)",
		"--tls-client-ca-file " + caFile + ", certificate 1 (CN=corp CA,O=keyward tests)",
		"--public-tls-client-ca-file " + caFile + ", certificate 1 (CN=corp CA,O=keyward tests)",
		"clientCertificates.authorities[0] (corp) caFile " + caFile + ", certificate 1 (CN=corp CA,O=keyward tests)",
		"rateLimits.redis.tls.caFile " + caFile + ", certificate 1 (CN=corp CA,O=keyward tests)",
		"rateLimits.redis.tls.certFile " + redisCert + ", certificate 1 (CN=redis client)",
	}))

	s, err = verifierFIPSSettings(verifierflags.Flags{}, verifier.Config{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Keys).To(BeEmpty(), "plain HTTP and no configuration: no certificate to judge")
}

// The FIPS binary does keyward's work with Go's module enforcing its rules
// (GODEBUG=fips140=only): the manager, talking TLS to a real API server,
// mints and hashes a key (PBKDF2 at the default 600,000 iterations, the
// HMAC fingerprint) and delivers it; the verifier reads its record and
// permits it.
func TestFIPSBinaryMintsAndVerifiesAKeyUnderFIPSOnly(t *testing.T) {
	binary := fipsBinary(t)
	ctx, cfg, k8s := sharedAPIServer(t)
	g := NewWithT(t)
	managerNS, verifierNS, keyNS := testNamespace("keyward-system"), testNamespace("keyward-verifier"), testNamespace("payments")
	for _, ns := range []string{managerNS, verifierNS, keyNS} {
		g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}
	only := map[string]string{"GODEBUG": "fips140=only", "POD_NAMESPACE": managerNS, "POD_NAME": "verifier-0"}
	startKeywardBinary(t, binary, cfg, only, "manager",
		"--enable-webhooks=false", "--deploy-verifier=false", "--metrics-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(freePort(t)),
		"--verifier-namespace="+verifierNS, "--default-policy=allow")
	decisions, probes := "127.0.0.1:"+strconv.Itoa(freePort(t)), "127.0.0.1:"+strconv.Itoa(freePort(t))
	startKeywardBinary(t, binary, cfg, only, "verifier", "--namespace="+verifierNS,
		"--bind-address="+decisions, "--public-bind-address=0", "--health-probe-bind-address="+probes, "--metrics-bind-address=0")

	key := &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: keyNS, Name: "fraud-reporting"},
		Spec:       keywardv1.APIKeySpec{Owner: "15a6", Scopes: []keywardv1.Scope{"acme/payments/investigations:read"}},
	}
	g.Expect(k8s.Create(ctx, key)).To(Succeed())
	delivered := &corev1.Secret{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: keyNS, Name: key.DeliverySecretName()}, delivered)).To(Succeed())
		g.Expect(delivered.Data).To(HaveKey("key"))
	}).WithTimeout(60*time.Second).Should(Succeed(), "the manager delivers the key")
	plaintext, err := keys.Parse(string(delivered.Data["key"]))
	g.Expect(err).NotTo(HaveOccurred())

	body := `{"subject":{"credential":"` + plaintext.Plaintext() + `"},"resource":{"org":"acme","project":"payments","type":"investigations"},"action":{"id":"read"}}`
	g.Eventually(func(g Gomega) {
		resp, err := http.Post("http://"+decisions+"/v1/decision", "application/json", strings.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		var out map[string]any
		g.Expect(json.NewDecoder(resp.Body).Decode(&out)).To(Succeed())
		g.Expect(out).To(HaveKeyWithValue("decision", "Permit"))
	}).WithTimeout(60*time.Second).Should(Succeed(), "the verifier permits the key")
}
