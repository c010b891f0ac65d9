package main

import (
	"crypto/rand"
	"crypto/rsa"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"

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
