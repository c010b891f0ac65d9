package controllers

import (
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/keyward-dev/keyward/internal/verifierflags"
)

// Where the verifier's TLS Secrets are mounted. Not under VerifierConfigDir:
// a mount point cannot be made inside the read-only ConfigMap volume there.
const (
	VerifierTLSDir      = "/etc/keyward-tls"
	VerifierClientCADir = "/etc/keyward-client-ca"
	// VerifierPublicClientCADir is the public port's own client CA
	// bundle, when it has one.
	VerifierPublicClientCADir = "/etc/keyward-public-client-ca"
)

// The keys of a kubernetes.io/tls Secret, as cert-manager writes them.
const (
	TLSCertKey = "tls.crt"
	TLSKeyKey  = "tls.key"
	TLSCAKey   = "ca.crt"
)

// VerifierTLS says where the verifier's request ports (decision and
// public) get their TLS; the probe and metrics ports stay plain.
type VerifierTLS struct {
	// Secret, in the verifier namespace, holds tls.crt and tls.key:
	// cert-manager's, or the one keyward keeps when SelfManaged.
	Secret string
	// SelfManaged: the deployer issues Secret from a CA it keeps in
	// VerifierCASecret of ManagerNamespace (verifier_certificate.go).
	SelfManaged      bool
	ManagerNamespace string
	// ClientAuth is the verifier's --tls-client-auth.
	ClientAuth string
	// ClientCASecret, in the verifier namespace, holds in ca.crt the CAs
	// whose client certificates are accepted (modes optional and
	// required); it may be Secret itself when one CA issues both.
	ClientCASecret string
	// PublicClientAuth is the verifier's --public-tls-client-auth: the
	// public port's own mode; empty is ClientAuth's with ClientCASecret.
	PublicClientAuth string
	// PublicClientCASecret, in the verifier namespace, holds in ca.crt
	// the CAs whose client certificates the public port accepts (its
	// modes optional and required).
	PublicClientCASecret string
}

// tlsFlags are the verifier's TLS flags: the mounted files.
func (v VerifierDeployment) tlsFlags() verifierflags.TLS {
	if v.TLS == nil {
		return verifierflags.TLS{}
	}
	t := verifierflags.TLS{
		CertFile:         VerifierTLSDir + "/" + TLSCertKey,
		KeyFile:          VerifierTLSDir + "/" + TLSKeyKey,
		ClientAuth:       v.TLS.ClientAuth,
		PublicClientAuth: v.TLS.PublicClientAuth,
	}
	if v.TLS.ClientCASecret != "" {
		t.ClientCAFile = VerifierClientCADir + "/" + TLSCAKey
	}
	if v.TLS.PublicClientCASecret != "" {
		t.PublicClientCAFile = VerifierPublicClientCADir + "/" + TLSCAKey
	}
	return t
}

// tlsVolumes mount only the keys the verifier reads: a self-managed or
// cert-manager Secret may hold more (a CA's ca.crt beside the serving
// pair). The Secret volumes are updated in place by the kubelet when the
// certificate is renewed, and the verifier reads them again.
func (v VerifierDeployment) tlsVolumes() ([]*corev1ac.VolumeApplyConfiguration, []*corev1ac.VolumeMountApplyConfiguration) {
	if v.TLS == nil {
		return nil, nil
	}
	volumes := []*corev1ac.VolumeApplyConfiguration{secretVolume("tls", v.TLS.Secret, TLSCertKey, TLSKeyKey)}
	mounts := []*corev1ac.VolumeMountApplyConfiguration{corev1ac.VolumeMount().WithName("tls").WithMountPath(VerifierTLSDir).WithReadOnly(true)}
	if v.TLS.ClientCASecret != "" {
		volumes = append(volumes, secretVolume("client-ca", v.TLS.ClientCASecret, TLSCAKey))
		mounts = append(mounts, corev1ac.VolumeMount().WithName("client-ca").WithMountPath(VerifierClientCADir).WithReadOnly(true))
	}
	if v.TLS.PublicClientCASecret != "" {
		volumes = append(volumes, secretVolume("public-client-ca", v.TLS.PublicClientCASecret, TLSCAKey))
		mounts = append(mounts, corev1ac.VolumeMount().WithName("public-client-ca").WithMountPath(VerifierPublicClientCADir).WithReadOnly(true))
	}
	return volumes, mounts
}

func secretVolume(name, secret string, keys ...string) *corev1ac.VolumeApplyConfiguration {
	src := corev1ac.SecretVolumeSource().WithSecretName(secret)
	for _, k := range keys {
		src.WithItems(corev1ac.KeyToPath().WithKey(k).WithPath(k))
	}
	return corev1ac.Volume().WithName(name).WithSecret(src)
}
