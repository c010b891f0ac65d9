package verifier

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// TestAttackRevokedClaimsUnderAnotherAuthorityDoNotLockTheOwnerOut: a
// tenant whose keys may name only its own authority ("other") binds the
// victim's SPIFFE ID to as many keys as the candidate cap and revokes
// them. None of them could ever accept the victim's certificate (another
// authority issued it, and revoked keys never verify again), so the
// victim's certificate must still authenticate as the victim's key.
func TestAttackRevokedClaimsUnderAnotherAuthorityDoNotLockTheOwnerOut(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	victimCert := f.corp.Issue(t, reporterOptions)
	victim := f.issueReporterKey()
	for range maxCertCandidates {
		k := f.issue(readScope)
		k.rec.APIKey.Namespace, k.rec.Owner = "mallory", "mallory"
		revokedAt := f.clock.Now()
		k.rec.State, k.rec.Secrets, k.rec.RevokedAt = record.Revoked, nil, &revokedAt
		f.bind(k, certbind.Binding{URI: spiffeReporter, Authority: "other"}, mutualTLSOnly...)
	}
	d := f.decideWith("", presented(t, victimCert.Cert), readScope)
	g.Expect(d.Result).To(Equal(Permit), "%s: %s", d.Reason, d.Message)
	g.Expect(d.KeyID).To(Equal(victim.rec.KeyID))
}

// TestAttackLiveClaimsUnderAnotherAuthorityDoNotLockTheOwnerOut: the same
// with live keys: claims under an authority that did not issue the
// certificate do not verify, so they neither count towards the cap nor
// make the certificate ambiguous.
func TestAttackLiveClaimsUnderAnotherAuthorityDoNotLockTheOwnerOut(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	victimCert := f.corp.Issue(t, reporterOptions)
	victim := f.issueReporterKey()
	for range maxCertCandidates - 1 {
		k := f.issue(readScope)
		k.rec.APIKey.Namespace, k.rec.Owner = "mallory", "mallory"
		f.bind(k, certbind.Binding{URI: spiffeReporter, Authority: "other"}, mutualTLSOnly...)
	}
	d := f.decideWith("", presented(t, victimCert.Cert), readScope)
	g.Expect(d.Result).To(Equal(Permit), "%s: %s", d.Reason, d.Message)
	g.Expect(d.KeyID).To(Equal(victim.rec.KeyID))
}

// TestCertificateCacheForgetsARecreatedRecord: a record deleted and
// written again starts over at version 1. A key bound with credential
// CertificateAndKey to one certificate, then recreated bound to its
// renewal, must refuse the old certificate even though it verified
// against the earlier record of the same key ID and version.
func TestCertificateCacheForgetsARecreatedRecord(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	old := f.corp.Issue(t, testutil.CertOptions{CommonName: "old"})
	renewed := f.corp.Issue(t, testutil.CertOptions{CommonName: "new"})
	k := f.issue(readScope)
	k.rec.AuthMethods = []string{record.AuthMutualTLS}
	k.rec.ClientCertificate = &certbind.Binding{Thumbprint: certbind.Thumbprint(old.Cert.Raw), Credential: certbind.CertificateAndKey}
	k.rec.Version = 1
	f.publish(k)
	d := f.decideWith(k.key.Plaintext(), presented(t, old.Cert), readScope)
	g.Expect(d.Result).To(Equal(Permit), "setup: %s: %s", d.Reason, d.Message)

	f.index.Remove(record.SecretName(k.rec.KeyID))
	k.rec.ClientCertificate = &certbind.Binding{Thumbprint: certbind.Thumbprint(renewed.Cert.Raw), Credential: certbind.CertificateAndKey}
	k.rec.Version = 1
	f.publish(k)
	d = f.decideWith(k.key.Plaintext(), presented(t, old.Cert), readScope)
	g.Expect(d.Reason).To(Equal(ReasonCertificateMismatch), "the certificate the key is no longer bound to: %s", d.Message)
	d = f.decideWith(k.key.Plaintext(), presented(t, renewed.Cert), readScope)
	g.Expect(d.Result).To(Equal(Permit), "the renewed certificate: %s: %s", d.Reason, d.Message)
}

// TestAttackBoundTokenStopsWhenTheKeyIsRebound: a key that allows only
// MutualTLS gets tokens by its certificate. The certificate is stolen;
// the owner rebinds the key to a replacement. Tokens minted with the
// stolen certificate must stop working with it at once, not when they
// expire: the key's current binding is checked, not only the token's cnf.
func TestAttackBoundTokenStopsWhenTheKeyIsRebound(t *testing.T) {
	g := NewWithT(t)
	m := servedMutualTLS(t)
	compromised, k := m.boundReporter("")
	tok, err := m.tokenFor(k.key.ID(), compromised)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.use(tok.AccessToken, compromised).StatusCode).To(Equal(http.StatusOK), "setup: the token permits before the rebinding")

	replacement := m.clients.Issue(t, testutil.CertOptions{CommonName: "reporter-2"})
	k.rec.ClientCertificate = &certbind.Binding{Thumbprint: certbind.Thumbprint(replacement.Cert.Raw), Authority: "clients"}
	k.rec.Version++
	m.publish(k)
	_, err = m.tokenFor(k.key.ID(), compromised)
	g.Expect(err).To(HaveOccurred(), "setup: the old certificate still gets new tokens")
	res := m.use(tok.AccessToken, compromised)
	g.Expect(res.StatusCode).To(Equal(http.StatusUnauthorized), "a token minted with the certificate the key is no longer bound to")
}

// TestBoundTokenOfAKeyThatAllowsItsSecretNeedsNoBinding: a key that may
// also get tokens by its secret gets one bound to whatever certificate
// its client's connection had (RFC 8705 §3), bound by name to another or
// not. Such a token works with that certificate: only a token that a key
// may use because it came from a certificate follows the key's binding.
func TestBoundTokenOfAKeyThatAllowsItsSecretNeedsNoBinding(t *testing.T) {
	g := NewWithT(t)
	m := servedMutualTLS(t)
	_, k := m.boundReporter("", record.AuthClientCredentials)
	other := m.clients.Issue(t, testutil.CertOptions{CommonName: "any client"})
	cc := clientcredentials.Config{ClientID: k.key.ID(), ClientSecret: k.key.Plaintext(), TokenURL: m.srv.URL + TokenPath}
	tok, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, m.client(other)))
	g.Expect(testutil.ErrorText(err)).To(BeEmpty())
	g.Expect(m.independentClaims(g, tok.AccessToken)).To(HaveKeyWithValue("cnf", map[string]any{"x5t#S256": x5tS256(other)}))
	g.Expect(m.use(tok.AccessToken, other).StatusCode).To(Equal(http.StatusOK))
}

// TestClaimsUnderOneAuthorityCostOneChainVerification: the keys a
// certificate alone is checked against may name one authority many
// times; within a request its chain is verified against it once.
func TestClaimsUnderOneAuthorityCostOneChainVerification(t *testing.T) {
	g := NewWithT(t)
	var chains chainResults
	runs := map[string]int{}
	for _, authority := range []string{"corp", "other", "corp", "other", "corp"} {
		_, _ = (&chains).verify(authority, func() ([]*x509.Certificate, error) {
			runs[authority]++
			return nil, errors.New("not issued by " + authority)
		})
	}
	g.Expect(runs).To(Equal(map[string]int{"corp": 1, "other": 1}))

	var none *chainResults
	for range 2 {
		_, _ = none.verify("corp", func() ([]*x509.Certificate, error) { runs["corp"]++; return nil, nil })
	}
	g.Expect(runs["corp"]).To(Equal(3), "without a memo every call verifies")
}
