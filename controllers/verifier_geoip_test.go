package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The deployer applies the verifier with its GeoIP volume, and the API
// server keeps it as given: mounted whole and read-only where the
// configuration's geoip.databasePath points.
func TestTheVerifierMountsItsGeoIPVolume(t *testing.T) {
	for name, c := range map[string]struct {
		source corev1.VolumeSource
		check  func(g *WithT, v corev1.Volume)
	}{
		"a claim, read-only whatever the flags said": {
			source: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "geoip"}},
			check: func(g *WithT, v corev1.Volume) {
				g.Expect(v.PersistentVolumeClaim).To(HaveValue(Equal(corev1.PersistentVolumeClaimVolumeSource{ClaimName: "geoip", ReadOnly: true})))
			},
		},
		"any other source": {
			source: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "files.example.com", Path: "/exports/geoip"}},
			check: func(g *WithT, v corev1.Volume) {
				g.Expect(v.NFS).To(HaveValue(Equal(corev1.NFSVolumeSource{Server: "files.example.com", Path: "/exports/geoip"})))
				g.Expect(v.PersistentVolumeClaim).To(BeNil())
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			ns := newNamespace(t)
			g.Expect(VerifierGeoIPSource(c.source)).To(Succeed())
			config := testVerifierDeployment(ns)
			config.ConfigMap, config.RedisSecret, config.GeoIP = "verifier-settings", "verifier-redis", &c.source
			d := &VerifierDeployer{Client: k8s, Config: config}
			_, err := d.apply(ctx)
			g.Expect(err).NotTo(HaveOccurred())

			dep := &appsv1.Deployment{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: VerifierName}, dep)).To(Succeed())
			pod := dep.Spec.Template.Spec
			g.Expect(pod.Volumes).To(HaveLen(3), "the ConfigMap, the Redis Secret and the GeoIP volume")
			var geoip *corev1.Volume
			for i := range pod.Volumes {
				if pod.Volumes[i].Name == "geoip" {
					geoip = &pod.Volumes[i]
				}
			}
			g.Expect(geoip).NotTo(BeNil())
			c.check(g, *geoip)
			g.Expect(pod.Containers[0].VolumeMounts).To(ContainElement(corev1.VolumeMount{
				Name: "geoip", MountPath: "/var/lib/geoip", ReadOnly: true,
			}), "the whole volume, without subPath, so that a database renamed into it is seen")
		})
	}
}

func TestTheVerifierHasNoGeoIPVolumeUnlessGiven(t *testing.T) {
	g := NewWithT(t)
	pod := testVerifierDeployment("ns").deployment().Spec.Template.Spec
	g.Expect(pod.Volumes).To(BeEmpty())
	g.Expect(pod.Containers[0].VolumeMounts).To(BeEmpty())
}

func TestAGeoIPVolumeHasOneSource(t *testing.T) {
	g := NewWithT(t)
	g.Expect(VerifierGeoIPSource(corev1.VolumeSource{})).To(MatchError(ContainSubstring("a volume has exactly one source (persistentVolumeClaim, nfs, csi, ...), this one has 0")))
	two := corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "geoip"},
		EmptyDir:              &corev1.EmptyDirVolumeSource{},
	}
	g.Expect(VerifierGeoIPSource(two)).To(MatchError(ContainSubstring("this one has 2 [emptyDir persistentVolumeClaim]")))
}
