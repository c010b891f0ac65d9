package main

import (
	"flag"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/keyward-dev/keyward/controllers"
)

func parseVerifierFlags(t *testing.T, args ...string) *verifierFlags {
	t.Helper()
	f := &verifierFlags{}
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	f.bind(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

// verifierFromFlags is the verifier the manager's flags args give, in
// keyward-system for a manager in keyward-manager. With wantErr the flags
// must be refused with an error containing it, and ok is false; without,
// they must be accepted.
func verifierFromFlags(g *WithT, t *testing.T, wantErr string, args ...string) (v controllers.VerifierDeployment, ok bool) {
	t.Helper()
	v, err := parseVerifierFlags(t, args...).deployment("keyward-system", "keyward-manager")
	if wantErr != "" {
		g.Expect(err).To(MatchError(ContainSubstring(wantErr)))
		return v, false
	}
	g.Expect(err).NotTo(HaveOccurred())
	return v, true
}

func TestVerifierFlags(t *testing.T) {
	t.Setenv("VERIFIER_IMAGE", "")
	for name, c := range map[string]struct {
		args    []string
		wantErr string
		check   func(*WithT, corev1.ResourceRequirements)
	}{
		"no image":       {args: nil, wantErr: "--verifier-image"},
		"no replica":     {args: []string{"--verifier-image=keyward:1", "--verifier-replicas=0"}, wantErr: "--verifier-replicas"},
		"a bad quantity": {args: []string{"--verifier-image=keyward:1", "--verifier-memory-limit=lots"}, wantErr: "--verifier-memory-limit"},
		"a bad Secret":   {args: []string{"--verifier-image=keyward:1", "--verifier-redis-secret=Redis_Creds"}, wantErr: `--verifier-redis-secret: "Redis_Creds" is not a Secret name`},
		"the defaults": {args: []string{"--verifier-image=keyward:1"}, check: func(g *WithT, r corev1.ResourceRequirements) {
			g.Expect(r.Requests.Cpu().Equal(resource.MustParse("100m"))).To(BeTrue())
			g.Expect(r.Limits.Memory().Equal(resource.MustParse("256Mi"))).To(BeTrue())
			g.Expect(r.Limits).NotTo(HaveKey(corev1.ResourceCPU))
		}},
		"a CPU limit and no memory limit": {args: []string{"--verifier-image=keyward:1", "--verifier-cpu-limit=2", "--verifier-memory-limit="},
			check: func(g *WithT, r corev1.ResourceRequirements) {
				g.Expect(r.Limits.Cpu().Equal(resource.MustParse("2"))).To(BeTrue())
				g.Expect(r.Limits).NotTo(HaveKey(corev1.ResourceMemory))
			}},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			v, ok := verifierFromFlags(g, t, c.wantErr, c.args...)
			if !ok {
				return
			}
			g.Expect(v.Namespace).To(Equal("keyward-system"))
			g.Expect(v.Image).To(Equal("keyward:1"))
			g.Expect(v.Replicas).To(Equal(int32(2)))
			c.check(g, v.Resources)
		})
	}
}

func TestVerifierRedisSecretFlag(t *testing.T) {
	g := NewWithT(t)
	v, _ := verifierFromFlags(g, t, "", "--verifier-image=keyward:1", "--verifier-redis-secret=verifier-redis")
	g.Expect(v.RedisSecret).To(Equal("verifier-redis"))
}

// The manager Deployment in config/manager passes the image through
// VERIFIER_IMAGE, which `make deploy IMG=...` rewrites.
func TestVerifierImageFromTheEnvironment(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("VERIFIER_IMAGE", "keyward:2")
	v, _ := verifierFromFlags(g, t, "")
	g.Expect(v.Image).To(Equal("keyward:2"))
}

func TestRunManagerRefusesAVerifierWithoutImage(t *testing.T) {
	t.Setenv("VERIFIER_IMAGE", "")
	NewWithT(t).Expect(runManager(nil)).To(MatchError(ContainSubstring("--verifier-image")))
}

func TestRunManagerRefusesNoRetentionOfRevokedRecords(t *testing.T) {
	NewWithT(t).Expect(runManager([]string{"--revoked-record-retention=0"})).
		To(MatchError(ContainSubstring("--revoked-record-retention must be positive")))
}

// A verifier on the host network reaches the API server the way the
// manager was told to, not through the Service address the kubelet gives.
func TestAVerifierOnTheHostNetworkGetsTheManagersAPIServer(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "6443")
	v, _ := verifierFromFlags(g, t, "", "--verifier-image=keyward:1", "--verifier-host-network")
	g.Expect(v.HostNetwork).To(BeTrue())
	g.Expect(v.Env).To(Equal([]corev1.EnvVar{{Name: "KUBERNETES_SERVICE_HOST", Value: "127.0.0.1"}, {Name: "KUBERNETES_SERVICE_PORT", Value: "6443"}}))

	v, _ = verifierFromFlags(g, t, "", "--verifier-image=keyward:1")
	g.Expect(v.HostNetwork).To(BeFalse())
	g.Expect(v.Env).To(BeEmpty())
}

func TestVerifierTLSFlags(t *testing.T) {
	t.Setenv("VERIFIER_IMAGE", "keyward:1")
	for name, c := range map[string]struct {
		args    []string
		wantErr string
		want    *controllers.VerifierTLS
	}{
		"off by default":  {},
		"an unknown mode": {args: []string{"--verifier-tls=on"}, wantErr: `--verifier-tls must be off, self-managed or secret, not "on"`},
		"an unknown client mode": {args: []string{"--verifier-tls=secret", "--verifier-tls-client-auth=maybe"},
			wantErr: `--verifier-tls-client-auth: unknown client certificate mode "maybe"`},
		"client certificates without TLS": {args: []string{"--verifier-tls-client-auth=request"}, wantErr: "need --verifier-tls=self-managed or secret"},
		"a verifying mode without CAs": {args: []string{"--verifier-tls=secret", "--verifier-tls-client-auth=required"},
			wantErr: "--verifier-tls-client-auth=required verifies client certificates: --verifier-tls-client-ca-secret must name"},
		"CAs nothing verifies against": {args: []string{"--verifier-tls=secret", "--verifier-tls-client-ca-secret=client-cas"},
			wantErr: "--verifier-tls-client-ca-secret is only used with --verifier-tls-client-auth=optional or required, not none"},
		"the serving CA as client CA": {args: []string{"--verifier-tls=self-managed", "--verifier-tls-client-auth=optional", "--verifier-tls-client-ca-secret=keyward-verifier-tls"},
			wantErr: "cannot be the self-managed --verifier-tls-secret"},
		"self-managed": {args: []string{"--verifier-tls=self-managed", "--verifier-tls-client-auth=request"},
			want: &controllers.VerifierTLS{Secret: "keyward-verifier-tls", SelfManaged: true, ManagerNamespace: "keyward-manager", ClientAuth: "request"}},
		"cert-manager's, one CA for both": {args: []string{"--verifier-tls=secret", "--verifier-tls-secret=verifier-cert", "--verifier-tls-client-auth=required", "--verifier-tls-client-ca-secret=verifier-cert"},
			want: &controllers.VerifierTLS{Secret: "verifier-cert", ManagerNamespace: "keyward-manager", ClientAuth: "required", ClientCASecret: "verifier-cert"}},
		"the public port's own mode without TLS": {args: []string{"--verifier-public-tls-client-auth=request"}, wantErr: "--verifier-public-tls-* need --verifier-tls=self-managed or secret"},
		"an unknown public client mode": {args: []string{"--verifier-tls=secret", "--verifier-public-tls-client-auth=maybe"},
			wantErr: `--verifier-public-tls-client-auth: unknown client certificate mode "maybe"`},
		"a verifying public mode without CAs": {args: []string{"--verifier-tls=secret", "--verifier-public-tls-client-auth=optional"},
			wantErr: "--verifier-public-tls-client-auth=optional verifies client certificates: --verifier-public-tls-client-ca-secret must name"},
		"public CAs nothing verifies against": {args: []string{"--verifier-tls=secret", "--verifier-public-tls-client-auth=request", "--verifier-public-tls-client-ca-secret=client-cas"},
			wantErr: "--verifier-public-tls-client-ca-secret is only used with --verifier-public-tls-client-auth=optional or required, not request"},
		"public CAs without a public mode": {args: []string{"--verifier-tls=secret", "--verifier-tls-client-auth=required", "--verifier-tls-client-ca-secret=proxy-cas", "--verifier-public-tls-client-ca-secret=client-cas"},
			wantErr: "--verifier-public-tls-client-ca-secret needs --verifier-public-tls-client-auth"},
		"the serving CA as public client CA": {args: []string{"--verifier-tls=self-managed", "--verifier-public-tls-client-auth=required", "--verifier-public-tls-client-ca-secret=keyward-verifier-tls"},
			wantErr: "--verifier-public-tls-client-ca-secret cannot be the self-managed --verifier-tls-secret"},
		"proxies required, OAuth clients requested": {args: []string{"--verifier-tls=self-managed", "--verifier-tls-client-auth=required", "--verifier-tls-client-ca-secret=proxy-cas", "--verifier-public-tls-client-auth=request"},
			want: &controllers.VerifierTLS{Secret: "keyward-verifier-tls", SelfManaged: true, ManagerNamespace: "keyward-manager", ClientAuth: "required", ClientCASecret: "proxy-cas", PublicClientAuth: "request"}},
		"a public CA of its own": {args: []string{"--verifier-tls=secret", "--verifier-tls-client-auth=required", "--verifier-tls-client-ca-secret=proxy-cas", "--verifier-public-tls-client-auth=optional", "--verifier-public-tls-client-ca-secret=client-cas"},
			want: &controllers.VerifierTLS{Secret: "keyward-verifier-tls", ManagerNamespace: "keyward-manager", ClientAuth: "required", ClientCASecret: "proxy-cas", PublicClientAuth: "optional", PublicClientCASecret: "client-cas"}},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			v, ok := verifierFromFlags(g, t, c.wantErr, c.args...)
			if !ok {
				return
			}
			g.Expect(v.TLS).To(Equal(c.want))
		})
	}
}

func TestRunManagerRefusesSnippetURLsNoConfigurationCanHold(t *testing.T) {
	g := NewWithT(t)
	g.Expect(runManager([]string{"--snippets-token-url=ftp://auth.example.com/token"})).
		To(MatchError(`--snippets-token-url "ftp://auth.example.com/token": must be an http or https URL`))
	g.Expect(runManager([]string{"--snippets-decision-url=http://verifier/$host"})).
		To(MatchError(ContainSubstring(`--snippets-decision-url "http://verifier/$host": path has characters outside`)))
	g.Expect(runManager([]string{"--snippets-api-url=https://api.example.com/?key=x"})).
		To(MatchError(ContainSubstring(`--snippets-api-url "https://api.example.com/?key=x": must be a host`)))
}
