package verifier

import (
	"net/http"
	"testing"

	. "github.com/onsi/gomega"

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
