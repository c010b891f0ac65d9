package controllers

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// appliedVerifierPod applies v's Deployment to the API server and returns
// the pod it templates as stored, so that the volumes are what the API
// server accepts.
func appliedVerifierPod(g *WithT, v VerifierDeployment) corev1.PodSpec {
	ctx := context.Background()
	g.Expect(k8s.Apply(ctx, v.deployment(), client.FieldOwner("test"), client.ForceOwnership)).To(Succeed())
	dep := &appsv1.Deployment{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: v.Namespace, Name: VerifierName}, dep)).To(Succeed())
	return dep.Spec.Template.Spec
}

// With TLS, the verifier mounts its Secrets' keys and is told where they
// are; the probes stay plain HTTP on the probe port. Applied to the API
// server, so that the volumes are what it accepts.
func TestTheVerifierServesTLSFromItsSecret(t *testing.T) {
	g := NewWithT(t)
	v := testVerifierDeployment(newNamespace(t))
	v.ConfigMap = "verifier-settings"
	v.TLS = &VerifierTLS{Secret: "verifier-cert", ClientAuth: "required", ClientCASecret: "client-cas"}
	pod := appliedVerifierPod(g, v)
	c := pod.Containers[0]
	g.Expect(c.Args).To(ContainElements(
		"--tls-cert-file=/etc/keyward-tls/tls.crt", "--tls-key-file=/etc/keyward-tls/tls.key",
		"--tls-client-ca-file=/etc/keyward-client-ca/ca.crt", "--tls-client-auth=required",
		"--config=/etc/keyward/verifier.yaml"))
	g.Expect(c.VolumeMounts).To(ConsistOf(
		corev1.VolumeMount{Name: "config", MountPath: "/etc/keyward", ReadOnly: true},
		corev1.VolumeMount{Name: "tls", MountPath: "/etc/keyward-tls", ReadOnly: true},
		corev1.VolumeMount{Name: "client-ca", MountPath: "/etc/keyward-client-ca", ReadOnly: true}))
	secretOf := func(name string) *corev1.SecretVolumeSource {
		for _, vol := range pod.Volumes {
			if vol.Name == name {
				return vol.Secret
			}
		}
		return nil
	}
	g.Expect(secretOf("tls")).To(HaveField("SecretName", "verifier-cert"))
	g.Expect(secretOf("tls").Items).To(ConsistOf(
		corev1.KeyToPath{Key: "tls.crt", Path: "tls.crt"}, corev1.KeyToPath{Key: "tls.key", Path: "tls.key"}))
	g.Expect(secretOf("client-ca")).To(HaveField("SecretName", "client-cas"))
	g.Expect(secretOf("client-ca").Items).To(ConsistOf(corev1.KeyToPath{Key: "ca.crt", Path: "ca.crt"}))
	for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		g.Expect(probe.HTTPGet.Port).To(Equal(intstr.FromInt32(verifierProbePort)))
		g.Expect(probe.HTTPGet.Scheme).To(Equal(corev1.URISchemeHTTP))
	}
}

// The public port's own client certificate mode and CA bundle reach the
// verifier's command line, the bundle mounted at a directory of its own
// beside the decision port's.
func TestThePublicPortsClientCAIsMountedApart(t *testing.T) {
	g := NewWithT(t)
	v := testVerifierDeployment(newNamespace(t))
	v.TLS = &VerifierTLS{Secret: "verifier-cert", ClientAuth: "required", ClientCASecret: "proxy-cas", PublicClientAuth: "optional", PublicClientCASecret: "client-cas"}
	pod := appliedVerifierPod(g, v)
	c := pod.Containers[0]
	g.Expect(c.Args).To(ContainElements(
		"--tls-client-ca-file=/etc/keyward-client-ca/ca.crt", "--tls-client-auth=required",
		"--public-tls-client-ca-file=/etc/keyward-public-client-ca/ca.crt", "--public-tls-client-auth=optional"))
	g.Expect(c.VolumeMounts).To(ConsistOf(
		corev1.VolumeMount{Name: "tls", MountPath: "/etc/keyward-tls", ReadOnly: true},
		corev1.VolumeMount{Name: "client-ca", MountPath: "/etc/keyward-client-ca", ReadOnly: true},
		corev1.VolumeMount{Name: "public-client-ca", MountPath: "/etc/keyward-public-client-ca", ReadOnly: true}))
	g.Expect(pod.Volumes).To(ContainElement(corev1.Volume{Name: "public-client-ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: "client-cas", Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}, DefaultMode: ptr.To[int32](corev1.SecretVolumeSourceDefaultMode)}}}))

	// The public mode "request" verifies nothing, so nothing more is
	// mounted; without a mode of its own, the public port gets no flag.
	v.TLS = &VerifierTLS{Secret: "verifier-cert", ClientAuth: "required", ClientCASecret: "proxy-cas", PublicClientAuth: "request"}
	args := v.args()
	g.Expect(args).To(ContainElement("--public-tls-client-auth=request"))
	g.Expect(args).NotTo(ContainElement(HavePrefix("--public-tls-client-ca-file")))
	g.Expect(v.deployment().Spec.Template.Spec.Volumes).To(HaveLen(2))
	v.TLS.PublicClientAuth = ""
	g.Expect(v.args()).NotTo(ContainElement(HavePrefix("--public-tls-")))
}

// Without TLS nothing of it is rendered.
func TestAPlainVerifierMountsNoTLS(t *testing.T) {
	g := NewWithT(t)
	pod := testVerifierDeployment("ns").deployment().Spec.Template.Spec
	g.Expect(pod.Volumes).To(BeEmpty())
	g.Expect(pod.Containers[0].Args).NotTo(ContainElement(HavePrefix("--tls-")))
}

// In self-managed mode the deployer keeps a CA in the manager's namespace
// and the verifier's serving certificate, for its Service's names, in the
// verifier's; it renews the certificate once it enters its renewal window
// and leaves both alone otherwise.
func TestTheSelfManagedVerifierCertificate(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	verifierNS, managerNS := newNamespace(t), newNamespace(t)
	clk := clocktesting.NewFakeClock(time.Now().UTC().Truncate(time.Second))
	v := testVerifierDeployment(verifierNS)
	v.TLS = &VerifierTLS{Secret: DefaultVerifierTLSSecret, SelfManaged: true, ManagerNamespace: managerNS, ClientAuth: "request"}
	d := &VerifierDeployer{Client: k8s, Config: v, Availability: &VerifierAvailability{}, Clock: clk}

	result, err := d.Reconcile(ctx, ctrl.Request{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result.RequeueAfter).To(BeNumerically("~", verifierServingValidity-verifierRenewBefore, time.Minute))

	ca, serving := &corev1.Secret{}, &corev1.Secret{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: managerNS, Name: VerifierCASecret}, ca)).To(Succeed())
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: verifierNS, Name: DefaultVerifierTLSSecret}, serving)).To(Succeed())
	g.Expect(ca.Data).To(HaveKey("ca.key"))
	g.Expect(serving.Type).To(Equal(corev1.SecretTypeTLS))
	g.Expect(serving.Data).To(SatisfyAll(HaveKey("tls.crt"), HaveKey("tls.key"), HaveKeyWithValue("ca.crt", ca.Data["ca.crt"])))
	g.Expect(serving.Data).NotTo(HaveKey("ca.key"), "the verifier, which reads every Secret of its namespace, never sees the CA's key")

	leaf := parseCert(g, serving.Data["tls.crt"])
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(g, ca.Data["ca.crt"]))
	for _, name := range VerifierDNSNames(verifierNS) {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: clk.Now()})
		g.Expect(err).NotTo(HaveOccurred(), name)
	}
	dep := &appsv1.Deployment{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: verifierNS, Name: VerifierName}, dep)).To(Succeed())
	g.Expect(dep.Spec.Template.Spec.Containers[0].Args).To(ContainElements("--tls-cert-file=/etc/keyward-tls/tls.crt", "--tls-client-auth=request"))

	// Nothing to do: no write.
	_, err = d.Reconcile(ctx, ctrl.Request{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: verifierNS, Name: DefaultVerifierTLSSecret}, serving)).To(Succeed())
	g.Expect(serving.Data["tls.crt"]).To(Equal(pemOf(leaf)))

	// In the renewal window: a new certificate from the same CA.
	clk.Step(result.RequeueAfter + time.Minute)
	_, err = d.Reconcile(ctx, ctrl.Request{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: verifierNS, Name: DefaultVerifierTLSSecret}, serving)).To(Succeed())
	renewed := parseCert(g, serving.Data["tls.crt"])
	g.Expect(renewed.NotAfter).To(BeTemporally(">", leaf.NotAfter))
	// RFC 5280: a CA's serial numbers are unique; clients that remember
	// them refuse a renewal that repeats one.
	caCert := parseCert(g, ca.Data["ca.crt"])
	g.Expect(renewed.SerialNumber.Cmp(leaf.SerialNumber)).NotTo(BeZero(), "the renewal has a serial of its own")
	g.Expect(leaf.SerialNumber.Cmp(caCert.SerialNumber)).NotTo(BeZero())
	_, err = renewed.Verify(x509.VerifyOptions{DNSName: VerifierDNSNames(verifierNS)[0], Roots: roots, CurrentTime: clk.Now()})
	g.Expect(err).NotTo(HaveOccurred())

	// A deleted certificate Secret is issued again.
	g.Expect(k8s.Delete(ctx, serving)).To(Succeed())
	_, err = d.Reconcile(ctx, ctrl.Request{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: verifierNS, Name: DefaultVerifierTLSSecret}, serving)).To(Succeed())
}

func parseCert(g *WithT, b []byte) *x509.Certificate {
	block, _ := pem.Decode(b)
	g.Expect(block).NotTo(BeNil())
	c, err := x509.ParseCertificate(block.Bytes)
	g.Expect(err).NotTo(HaveOccurred())
	return c
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
