package main

import (
	"flag"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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
			v, err := parseVerifierFlags(t, c.args...).deployment("keyward-system")
			if c.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(c.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(v.Namespace).To(Equal("keyward-system"))
			g.Expect(v.Image).To(Equal("keyward:1"))
			g.Expect(v.Replicas).To(Equal(int32(2)))
			c.check(g, v.Resources)
		})
	}
}

// The manager Deployment in config/manager passes the image through
// VERIFIER_IMAGE, which `make deploy IMG=...` rewrites.
func TestVerifierImageFromTheEnvironment(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("VERIFIER_IMAGE", "keyward:2")
	v, err := parseVerifierFlags(t).deployment("keyward-system")
	g.Expect(err).NotTo(HaveOccurred())
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
	v, err := parseVerifierFlags(t, "--verifier-image=keyward:1", "--verifier-host-network").deployment("keyward-system")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(v.HostNetwork).To(BeTrue())
	g.Expect(v.Env).To(Equal([]corev1.EnvVar{{Name: "KUBERNETES_SERVICE_HOST", Value: "127.0.0.1"}, {Name: "KUBERNETES_SERVICE_PORT", Value: "6443"}}))

	v, err = parseVerifierFlags(t, "--verifier-image=keyward:1").deployment("keyward-system")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(v.HostNetwork).To(BeFalse())
	g.Expect(v.Env).To(BeEmpty())
}
