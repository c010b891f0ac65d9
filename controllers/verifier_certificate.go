package controllers

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The verifier's self-managed certificate: keyward keeps a CA of its own
// and issues the verifier a serving certificate for its Service's names
// (verifier_pki.go), with the webhook's lifetimes (a CA for ten years, a
// serving certificate for one, renewed 90 days before it ends) and its
// library's checks of what is there.
// Unlike the webhook's, the CA lives apart from the certificate: its key
// stays in the manager's namespace, because the verifier can read every
// Secret of its own.
const (
	// VerifierCASecret, in the manager's namespace, holds the CA (ca.crt,
	// ca.key).
	VerifierCASecret = "keyward-verifier-ca"
	// DefaultVerifierTLSSecret is the verifier's TLS Secret, in its
	// namespace: the serving pair and ca.crt, the CA clients trust.
	DefaultVerifierTLSSecret = "keyward-verifier-tls"

	verifierCAName          = "keyward-verifier-ca"
	verifierCAValidity      = 10 * 365 * 24 * time.Hour
	verifierServingValidity = 365 * 24 * time.Hour
	verifierRenewBefore     = 90 * 24 * time.Hour
	caKeyKey                = "ca.key"
)

// VerifierDNSNames are the names the verifier's Service answers to.
func VerifierDNSNames(namespace string) []string {
	svc := VerifierName + "." + namespace + ".svc"
	return []string{svc, svc + ".cluster.local", VerifierName + "." + namespace, VerifierName}
}

// serverAuth is what the serving certificate is checked to allow.
var serverAuth = &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}

// ensureServingCertificate keeps the CA and the verifier's serving
// certificate valid and returns when to look again: when one of them
// enters its renewal window.
func (d *VerifierDeployer) ensureServingCertificate(ctx context.Context, now time.Time) (time.Duration, error) {
	v := d.Config
	names := VerifierDNSNames(v.Namespace)
	renewBy := now.Add(verifierRenewBefore)

	caSecret, err := d.secretData(ctx, v.TLS.ManagerNamespace, VerifierCASecret)
	if err != nil {
		return 0, err
	}
	// The private keys read or made here are copies of this call's own
	// (a Get copies out of the cache): overwritten when it returns.
	defer func() { clear(caSecret[caKeyKey]) }()
	if ok, _ := rotator.ValidCert(caSecret[TLSCAKey], caSecret[TLSCAKey], caSecret[caKeyKey], verifierCAName, nil, renewBy); !ok {
		certPEM, keyPEM, err := newVerifierCA(now.Add(-time.Hour), now.Add(verifierCAValidity))
		if err != nil {
			return 0, fmt.Errorf("creating the verifier's CA: %w", err)
		}
		caSecret = map[string][]byte{TLSCAKey: certPEM, caKeyKey: keyPEM}
		if err := d.applySecret(ctx, v.TLS.ManagerNamespace, VerifierCASecret, corev1.SecretTypeOpaque, caSecret); err != nil {
			return 0, err
		}
	}
	caCert, err := firstCertificate(caSecret[TLSCAKey])
	if err != nil {
		return 0, fmt.Errorf("the verifier's CA: %w", err)
	}
	caKey, err := parseSigner(caSecret[caKeyKey])
	if err != nil {
		return 0, fmt.Errorf("the verifier's CA key: %w", err)
	}

	serving, err := d.secretData(ctx, v.Namespace, v.TLS.Secret)
	if err != nil {
		return 0, err
	}
	defer func() { clear(serving[TLSKeyKey]) }()
	if ok, _ := rotator.ValidCert(caSecret[TLSCAKey], serving[TLSCertKey], serving[TLSKeyKey], names[0], serverAuth, renewBy); !ok {
		certPEM, keyPEM, err := issueVerifierServing(caCert, caKey, names, now.Add(-time.Hour), now.Add(verifierServingValidity))
		if err != nil {
			return 0, fmt.Errorf("issuing the verifier's serving certificate: %w", err)
		}
		serving = map[string][]byte{TLSCertKey: certPEM, TLSKeyKey: keyPEM, TLSCAKey: caSecret[TLSCAKey]}
		if err := d.applySecret(ctx, v.Namespace, v.TLS.Secret, corev1.SecretTypeTLS, serving); err != nil {
			return 0, err
		}
	}
	leaf, err := firstCertificate(serving[TLSCertKey])
	if err != nil {
		return 0, err
	}
	ends := leaf.NotAfter
	if caCert.NotAfter.Before(ends) {
		ends = caCert.NotAfter
	}
	return max(ends.Add(-verifierRenewBefore).Sub(now), time.Minute), nil
}

func (d *VerifierDeployer) secretData(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	reader := d.Reader
	if reader == nil {
		reader = d.Client
	}
	s := &corev1.Secret{}
	switch err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	return s.Data, nil
}

// applySecret writes the whole Secret with keyward's label, which puts it
// in the manager's cache.
func (d *VerifierDeployer) applySecret(ctx context.Context, namespace, name string, typ corev1.SecretType, data map[string][]byte) error {
	s := corev1ac.Secret(name, namespace).WithLabels(map[string]string{ManagedByLabel: ManagedByValue}).WithType(typ).WithData(data)
	if err := d.Client.Apply(ctx, s, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("writing Secret %s/%s: %w", namespace, name, err)
	}
	return nil
}

func firstCertificate(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
