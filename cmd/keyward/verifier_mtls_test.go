package main

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/internal/verifierflags"
	"github.com/keyward-dev/keyward/verifier"
)

const reporterSPIFFE = "spiffe://example.org/ns/payments/sa/reporter"

// certificateRecord is the record the manager writes for an APIKey that
// authenticates with a certificate alone, bound by SPIFFE ID under the
// authority "clients".
func certificateRecord(t *testing.T, key keys.Key, state record.State, version int64) *corev1.Secret {
	t.Helper()
	rec := record.Record{
		Schema: record.Schema, KeyID: key.ID(), Owner: "15a6", State: state, Version: version,
		APIKey:            record.APIKeyRef{UID: "uid-reporter", Namespace: "payments", Name: "reporter"},
		Scopes:            []string{"acme/payments/investigations:read"},
		AuthMethods:       []string{record.AuthMutualTLS},
		ClientCertificate: &certbind.Binding{URI: reporterSPIFFE, Authority: "clients", Credential: certbind.CertificateOnly},
	}
	if state == record.Revoked {
		at := time.Now().UTC().Truncate(time.Second)
		rec.RevokedAt = &at
	} else {
		hasher, err := keys.NewHasher(1000, true)
		if err != nil {
			t.Fatal(err)
		}
		phc, err := hasher.Hash(key)
		if err != nil {
			t.Fatal(err)
		}
		rec.Secrets = []record.Secret{{Serial: "1", Hash: phc, NotBefore: time.Now().Add(-time.Minute).UTC().Truncate(time.Second)}}
	}
	data, err := record.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{Data: map[string][]byte{record.DataKey: data}}
}

// The verifier's own TLS listener authenticates a forward-auth request by
// the client certificate alone, asked with the real curl --cert: in mode
// optional a certificate of another CA is refused by the handshake, in
// mode request it reaches the verifier and is refused there; a request
// with neither certificate nor key is 401; revoking the key denies its
// certificate within a second.
func TestVerifierTLSAuthenticatesForwardAuthByCertificateWithCurl(t *testing.T) {
	p := newVerifierPKI(t)
	bound := p.clientCA.Issue(t, testutil.CertOptions{CommonName: "reporter", URIs: []string{reporterSPIFFE}})
	reporter := p.curlCert(t, bound, "reporter")
	// An impostor: the same SPIFFE ID, from a CA the binding does not name.
	impostor := p.curlCert(t, p.otherCA.Issue(t, testutil.CertOptions{CommonName: "reporter", URIs: []string{reporterSPIFFE}}), "impostor")
	configFile := p.dir + "/verifier.yaml"
	testutil.WriteFile(t, configFile, []byte("clientCertificates:\n  authorities:\n    - name: clients\n      caFile: "+p.clientCAFile+"\n"))

	for _, mode := range []string{"optional", "request"} {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			flags := verifierflags.TLS{CertFile: p.certFile, KeyFile: p.keyFile, ClientAuth: mode}
			if mode == "optional" {
				flags.ClientCAFile = p.clientCAFile
			}
			o, _ := startTLSVerifierLogging(t, flags, func(o *verifierOptions) { o.ConfigPath = configFile })
			ctx, _, k8s := sharedAPIServer(t)
			key, err := keys.Generate("")
			g.Expect(err).NotTo(HaveOccurred())
			rec := certificateRecord(t, key, record.Active, 1)
			rec.ObjectMeta = metav1.ObjectMeta{Namespace: o.Namespace, Name: record.SecretName(key.ID()), Labels: map[string]string{record.RecordLabel: "true"}}
			g.Expect(k8s.Create(ctx, rec)).To(Succeed())

			// The status and the key ID the verifier names.
			ask := func(cert curlCert) (string, error) {
				return p.curlURL(t, cert, "%{http_code} %header{"+verifier.HeaderKeyID+"}",
					"https://"+o.BindAddr+verifier.EnvoyPrefix+"/acme/payments/investigations/INV-7")
			}
			g.Eventually(func() (string, error) { return ask(reporter) }).WithTimeout(10*time.Second).Should(Equal("200 "+key.ID()), "the bound certificate")
			g.Expect(ask(curlCert{})).To(Equal("401"), "neither certificate nor key")
			for _, c := range []curlCert{p.other, impostor} {
				status, err := ask(c)
				if mode == "optional" {
					g.Expect(err).To(HaveOccurred(), "certificate %q of another CA: the handshake must refuse it", c.cn)
					continue
				}
				g.Expect(err).NotTo(HaveOccurred(), "certificate %q", c.cn)
				g.Expect(status).To(Equal("401"), "certificate %q of another CA", c.cn)
			}

			revoked := certificateRecord(t, key, record.Revoked, 2)
			rec.Data = revoked.Data
			g.Expect(k8s.Update(ctx, rec)).To(Succeed())
			g.Eventually(func() (string, error) { return ask(reporter) }).WithTimeout(time.Second).WithPolling(50*time.Millisecond).
				Should(Equal("401"), "the revoked key's certificate")
		})
	}
}
