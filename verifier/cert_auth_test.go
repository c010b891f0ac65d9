package verifier

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/scope"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// Every binding kind permits its own certificate alone and denies the
// others: the same names from another CA, an expired certificate, a
// different name, and a self-signed certificate claiming the names.
const readScope = "acme/payments/investigations:read"

func TestEveryBindingKindPermitsOnlyItsCertificate(t *testing.T) {
	f := newCertFixture(t, Options{})
	good := f.corp.Issue(t, reporterOptions)
	impostor := f.other.Issue(t, reporterOptions)
	expiredOpts := reporterOptions
	// Within the test CA's validity, which began an hour ago.
	expiredOpts.NotBefore, expiredOpts.NotAfter = time.Now().Add(-50*time.Minute), time.Now().Add(-10*time.Minute)
	expired := f.corp.Issue(t, expiredOpts)
	stranger := f.corp.Issue(t, testutil.CertOptions{
		CommonName: "intruder", DNSNames: []string{"intruder.payments.svc"},
		URIs: []string{"spiffe://example.org/ns/payments/sa/intruder"}, Emails: []string{"intruder@example.com"},
	})
	selfSigned := testutil.SelfSigned(t, reporterOptions)

	for name, b := range map[string]certbind.Binding{
		"thumbprint": {Thumbprint: certbind.Thumbprint(good.Cert.Raw)},
		"subject":    {Subject: "CN=reporter", Authority: "corp"},
		"dnsName":    {DNSName: "reporter.payments.svc", Authority: "corp"},
		"uri":        {URI: spiffeReporter, Authority: "corp"},
		"email":      {Email: "reporter@example.com", Authority: "corp"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			k := f.issue(readScope)
			f.bind(k, b, mutualTLSOnly...)
			defer f.index.Remove(record.SecretName(k.rec.KeyID))

			d := f.decideWith("", presented(t, good.Cert), readScope)
			g.Expect(d.Result).To(Equal(Permit), "%s: %s", d.Reason, d.Message)
			g.Expect(d.KeyID).To(Equal(k.rec.KeyID))
			g.Expect(d.MatchedScope).To(Equal(readScope))

			for what, c := range map[string]*testutil.Cert{"another CA's": impostor, "a stranger's": stranger, "a self-signed": selfSigned} {
				d := f.decideWith("", presented(t, c.Cert), readScope)
				g.Expect(d.Result).To(Equal(Deny), "%s certificate", what)
				g.Expect(d.Reason).To(Equal(ReasonCertificateNotBound), "%s certificate", what)
				g.Expect(d.KeyID).To(BeEmpty())
			}
			d = f.decideWith("", presented(t, expired.Cert), readScope)
			g.Expect(d.Result).To(Equal(Deny))
			if b.Thumbprint != "" {
				g.Expect(d.Reason).To(Equal(ReasonCertificateNotBound), "another certificate than the bound one")
			} else {
				g.Expect(d.Reason).To(Equal(ReasonCertificateExpired))
				g.Expect(d.Message).To(Equal("the client certificate has expired"))
			}
		})
	}
}

// A key bound by thumbprint alone takes a self-signed certificate (RFC
// 8705's self_signed_tls_client_auth); a binding by name never does,
// whatever the certificate claims.
func TestSelfSignedCertificatesOnlyByThumbprint(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	self := testutil.SelfSigned(t, reporterOptions)
	byThumb := f.issue(readScope)
	f.bind(byThumb, certbind.Binding{Thumbprint: certbind.Thumbprint(self.Cert.Raw)}, mutualTLSOnly...)
	d := f.decideWith("", presented(t, self.Cert), readScope)
	g.Expect(d.Result).To(Equal(Permit), "%s: %s", d.Reason, d.Message)
	g.Expect(d.KeyID).To(Equal(byThumb.rec.KeyID))

	// The thumbprint with an authority needs the chain as well.
	f.bind(byThumb, certbind.Binding{Thumbprint: certbind.Thumbprint(self.Cert.Raw), Authority: "corp"}, mutualTLSOnly...)
	d = f.decideWith("", presented(t, self.Cert), readScope)
	g.Expect(d.Reason).To(Equal(ReasonCertificateNotBound))

	// Nor does a key bound by the name the self-signed certificate carries.
	f.issueReporterKey()
	d = f.decideWith("", presented(t, self.Cert), readScope)
	g.Expect(d.Result).To(Equal(Deny))
	g.Expect(d.Reason).To(Equal(ReasonCertificateNotBound))
}

// Revoking the APIKey denies its certificate at the next request, from
// the record's state, cached verification or not.
func TestRevokedKeysCertificateIsDeniedAtOnce(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	cert := f.corp.Issue(t, reporterOptions)
	k := f.issueReporterKey()
	g.Expect(f.decideWith("", presented(t, cert.Cert), readScope).Result).To(Equal(Permit))

	revokedAt := f.clock.Now()
	k.rec.State, k.rec.Secrets, k.rec.RevokedAt = record.Revoked, nil, &revokedAt
	k.rec.Version++
	f.publish(k)
	// A revoked key is no candidate any more: its certificate is bound
	// to nothing.
	d := f.decideWith("", presented(t, cert.Cert), readScope)
	g.Expect(d.Result).To(Equal(Deny))
	g.Expect(d.Reason).To(Equal(ReasonCertificateNotBound))
	g.Expect(d.KeyID).To(BeEmpty())

	// A successor bound to the same certificate takes over; the revoked
	// key does not lock it out.
	next := f.issueReporterKey()
	d = f.decideWith("", presented(t, cert.Cert), readScope)
	g.Expect(d.Result).To(Equal(Permit), "%s: %s", d.Reason, d.Message)
	g.Expect(d.KeyID).To(Equal(next.rec.KeyID))

	next.rec.State = record.Suspended
	next.rec.Version++
	f.publish(next)
	g.Expect(f.decideWith("", presented(t, cert.Cert), readScope).Reason).To(Equal(ReasonSuspended))
}

// CertificateAndKey: the key needs its certificate and the certificate
// its key.
func TestCertificateAndKeyNeedsBoth(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	cert := f.corp.Issue(t, reporterOptions)
	impostor := f.other.Issue(t, reporterOptions)
	other := f.corp.Issue(t, testutil.CertOptions{CommonName: "other", URIs: []string{"spiffe://example.org/ns/payments/sa/other"}})
	k := f.issue(readScope)
	f.bind(k, certbind.Binding{URI: spiffeReporter, Authority: "corp", Credential: certbind.CertificateAndKey}, mutualTLSOnly...)
	key := k.key.Plaintext()

	d := f.decideWith(key, presented(t, cert.Cert), readScope)
	g.Expect(d.Result).To(Equal(Permit), "%s: %s", d.Reason, d.Message)
	g.Expect(d.KeyID).To(Equal(k.rec.KeyID))
	g.Expect(d.Secret).To(Equal(SecretCurrent))

	for _, tc := range []struct {
		name string
		cred string
		cc   ClientCertificate
		want Reason
	}{
		{"key alone", key, ClientCertificate{}, ReasonCertificateRequired},
		{"certificate alone", "", presented(t, cert.Cert), ReasonMissingCredential},
		{"key with another certificate", key, presented(t, other.Cert), ReasonCertificateMismatch},
		{"key with the names from another CA", key, presented(t, impostor.Cert), ReasonCertificateUntrusted},
	} {
		d := f.decideWith(tc.cred, tc.cc, readScope)
		g.Expect(d.Result).To(Equal(Deny), tc.name)
		g.Expect(d.Reason).To(Equal(tc.want), "%s: %s", tc.name, d.Message)
	}
	// Even with APIKey among its methods: the binding asks for both.
	f.bind(k, *k.rec.ClientCertificate, record.AuthAPIKey, record.AuthMutualTLS)
	g.Expect(f.decideWith(key, ClientCertificate{}, readScope).Reason).To(Equal(ReasonCertificateRequired))
	// A wrong key with the right certificate is a wrong key.
	g.Expect(f.decideWith(k.key.ID()+"_"+strings.Repeat("A", 43), presented(t, cert.Cert), readScope).Result).To(Equal(Deny))
}

// A key bound with credential Certificate may be sent alone only if its
// authMethods also allow APIKey.
func TestCertificateBindingAndKeyAlone(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	k := f.issueReporterKey()
	d := f.decideWith(k.key.Plaintext(), ClientCertificate{}, readScope)
	g.Expect(d.Reason).To(Equal(ReasonAuthMethodNotAllowed))

	f.bind(k, *k.rec.ClientCertificate, record.AuthAPIKey, record.AuthMutualTLS)
	d = f.decideWith(k.key.Plaintext(), ClientCertificate{}, readScope)
	g.Expect(d.Result).To(Equal(Permit), "%s: %s", d.Reason, d.Message)
	d = f.decideWith("", presented(t, f.corp.Issue(t, reporterOptions).Cert), readScope)
	g.Expect(d.Result).To(Equal(Permit), "%s: %s", d.Reason, d.Message)
}

// Attacker first: a tenant binds the victim's SPIFFE ID to its own key.
// Under another authority (or one that never issued the victim's
// certificate) the claim does not count, and the victim's requests stay
// the victim's; under the same authority neither key wins, and the
// denial says why.
func TestABindingOfAnotherTenantsNameNeverWins(t *testing.T) {
	g := NewWithT(t)
	var trail testutil.SyncBuffer
	f := newCertFixture(t, Options{Audit: AccessLog{W: audit.NewWriter(&trail)}})
	victimCert := f.corp.Issue(t, reporterOptions)
	victim := f.issueReporterKey()

	attacker := f.issue(readScope)
	attacker.rec.APIKey.Namespace, attacker.rec.Owner = "mallory", "mallory"
	f.bind(attacker, certbind.Binding{URI: spiffeReporter, Authority: "other"}, mutualTLSOnly...)
	d := f.decideWith("", presented(t, victimCert.Cert), readScope)
	g.Expect(d.Result).To(Equal(Permit), "%s: %s", d.Reason, d.Message)
	g.Expect(d.KeyID).To(Equal(victim.rec.KeyID), "the victim's certificate authenticates as the victim")

	// The attacker's own certificate of the other CA is the attacker's.
	mine := f.other.Issue(t, reporterOptions)
	g.Expect(f.decideWith("", presented(t, mine.Cert), readScope).KeyID).To(Equal(attacker.rec.KeyID))

	// Binding by a thumbprint it cannot match changes nothing either.
	f.bind(attacker, certbind.Binding{Thumbprint: certbind.Thumbprint(mine.Cert.Raw)}, mutualTLSOnly...)
	g.Expect(f.decideWith("", presented(t, victimCert.Cert), readScope).KeyID).To(Equal(victim.rec.KeyID))

	// The same name under the same authority: both are refused.
	f.bind(attacker, certbind.Binding{URI: spiffeReporter, Authority: "corp"}, mutualTLSOnly...)
	d = f.decideWith("", presented(t, victimCert.Cert), readScope)
	g.Expect(d.Result).To(Equal(Deny))
	g.Expect(d.Reason).To(Equal(ReasonCertificateAmbiguous))
	g.Expect(d.Message).To(Equal("the certificate is bound to more than one key"))
	g.Expect(d.KeyID).To(BeEmpty())
	g.Expect(trail.String()).To(ContainSubstring(`"reason":"certificate_bound_to_several_keys"`))
	g.Expect(trail.String()).To(ContainSubstring(`"certificate":"`+certbind.Thumbprint(victimCert.Cert.Raw)+`"`),
		"the operator's trail names the certificate")

	// A different kind of binding of the same certificate counts too.
	f.bind(attacker, certbind.Binding{DNSName: "reporter.payments.svc", Authority: "corp"}, mutualTLSOnly...)
	g.Expect(f.decideWith("", presented(t, victimCert.Cert), readScope).Reason).To(Equal(ReasonCertificateAmbiguous))

	// Removing the claim gives the victim its certificate back.
	f.index.Remove(record.SecretName(attacker.rec.KeyID))
	g.Expect(f.decideWith("", presented(t, victimCert.Cert), readScope).KeyID).To(Equal(victim.rec.KeyID))
}

// Claims beyond the bound are refused outright: checking only some of
// them could pick one key while another also accepts the certificate.
func TestManyClaimsOnOneCertificateAreRefused(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	cert := f.corp.Issue(t, reporterOptions)
	for range maxCertCandidates + 1 {
		k := f.issue(readScope)
		f.bind(k, certbind.Binding{URI: spiffeReporter, Authority: "other"}, mutualTLSOnly...)
	}
	d := f.decideWith("", presented(t, cert.Cert), readScope)
	g.Expect(d.Reason).To(Equal(ReasonCertificateAmbiguous))
}

// Chains: an intermediate the client sends leads to the authority; one
// it does not send does not; a certificate for servers only is refused.
func TestCertificateChainsToTheAuthority(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	f.issueReporterKey()
	inter := f.corp.Intermediate(t, "corp issuing")
	leaf := inter.Issue(t, reporterOptions)

	d := f.decideWith("", presented(t, leaf.Cert, inter.Cert), readScope)
	g.Expect(d.Result).To(Equal(Permit), "%s: %s", d.Reason, d.Message)
	d = f.decideWith("", presented(t, inter.Issue(t, reporterOptions).Cert), readScope)
	g.Expect(d.Reason).To(Equal(ReasonCertificateNotBound), "without its intermediate a leaf does not chain")

	serverOnly := f.corp.IssueFor(t, reporterOptions, x509.ExtKeyUsageServerAuth)
	d = f.decideWith("", presented(t, serverOnly.Cert), readScope)
	g.Expect(d.Reason).To(Equal(ReasonCertificateNotBound))
}

// A verification is cached per record, and the cache never
// outlives the certificate.
func TestCertificateVerificationCache(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	opts := reporterOptions
	opts.NotAfter = f.clock.Now().Add(time.Hour)
	cert := f.corp.Issue(t, opts)
	k := f.issueReporterKey()
	for range 3 {
		g.Expect(f.decideWith("", presented(t, cert.Cert), readScope).Result).To(Equal(Permit))
	}
	cached := func() []certCacheKey {
		var out []certCacheKey
		for ck := range f.v.certs.entries[k.rec.KeyID] {
			out = append(out, ck)
		}
		return out
	}
	first := cached()
	g.Expect(first).To(HaveLen(1))
	g.Expect(f.v.certs.size).To(Equal(1))
	f.bind(k, *k.rec.ClientCertificate, mutualTLSOnly...)
	g.Expect(f.v.certs.entries).To(BeEmpty(), "a new record version forgets what the old one verified")
	g.Expect(f.decideWith("", presented(t, cert.Cert), readScope).Result).To(Equal(Permit))
	g.Expect(cached()).To(HaveLen(1))
	g.Expect(cached()[0].generation).NotTo(Equal(first[0].generation), "a new record version verifies again")
	g.Expect(f.v.certs.size).To(Equal(1))

	f.clock.Step(time.Hour)
	d := f.decideWith("", presented(t, cert.Cert), readScope)
	g.Expect(d.Reason).To(Equal(ReasonCertificateExpired))
}

// A malformed certificate is a denial of its own, with or without a key.
func TestMalformedCertificateIsDenied(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	k := f.issue(readScope)
	f.publish(k)
	r, a := resourceOf(scope.MustParse(readScope))
	d := f.v.Decide(t.Context(), Request{Credential: k.key.Plaintext(), Resource: r, Action: a,
		ClientCertificateErr: errMalformedCertificate})
	g.Expect(d.Result).To(Equal(Deny))
	g.Expect(d.Reason).To(Equal(ReasonMalformedCertificate))
	g.Expect(credentialReason(d.Reason)).To(BeTrue(), "401, like every credential problem")
}

func TestAuthoritiesConfig(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCA(t, "corp")
	good := ca.WriteFile(t, dir, "corp")
	empty := filepath.Join(dir, "empty.pem")
	testutil.WriteFile(t, empty, []byte("not a certificate\n"))
	withKey := filepath.Join(dir, "key.pem")
	leaf := ca.Issue(t, testutil.CertOptions{CommonName: "x"})
	testutil.WriteFile(t, withKey, append(ca.CertPEM(), leaf.KeyPEM(t)...))
	for _, tc := range []struct {
		name    string
		list    []CertificateAuthority
		wantErr string
	}{
		{"fine", []CertificateAuthority{{Name: "corp", CAFile: good}, {Name: "spire", CAFile: good}}, ""},
		{"missing file", []CertificateAuthority{{Name: "corp", CAFile: filepath.Join(dir, "nope.pem")}}, "authorities[0] (corp): open "},
		{"no certificate", []CertificateAuthority{{Name: "corp", CAFile: empty}}, "no PEM CERTIFICATE block in it"},
		{"a private key", []CertificateAuthority{{Name: "corp", CAFile: withKey}}, "a PRIVATE KEY block; a CA bundle holds only CERTIFICATE blocks"},
		{"duplicate", []CertificateAuthority{{Name: "corp", CAFile: good}, {Name: "corp", CAFile: good}}, `authorities[1].name: "corp" is configured twice`},
		{"bad name", []CertificateAuthority{{Name: "Corp CA", CAFile: good}}, `authorities[0].name: "Corp CA" is not a lower-case DNS label`},
		{"no file", []CertificateAuthority{{Name: "corp"}}, "authorities[0].caFile: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := Config{ClientCertificates: ClientCertificates{Authorities: tc.list}}.Validate()
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
		})
	}
}

// A renewed CA bundle applies after Reload; a broken one leaves the
// authorities as they were.
func TestAuthoritiesReload(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	f.issueReporterKey()
	renewed := testutil.NewCA(t, "corp renewed")
	cert := renewed.Issue(t, reporterOptions)
	g.Expect(f.decideWith("", presented(t, cert.Cert), readScope).Result).To(Equal(Deny))

	path := f.authorities.list[0].CAFile
	testutil.WriteFile(t, path, append(f.corp.CertPEM(), renewed.CertPEM()...))
	g.Expect(f.authorities.Reload()).To(Succeed())
	g.Expect(f.decideWith("", presented(t, cert.Cert), readScope).Result).To(Equal(Permit))

	g.Expect(os.WriteFile(path, []byte("half a file"), 0o600)).To(Succeed())
	g.Expect(f.authorities.Reload()).To(MatchError(ContainSubstring("no PEM CERTIFICATE block")))
	g.Expect(f.decideWith("", presented(t, cert.Cert), readScope).Result).To(Equal(Permit))
}

// Run follows the CA files: a renewed bundle applies without a restart, a
// broken one is logged and changes nothing.
func TestAuthoritiesFollowTheirFiles(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	f.issueReporterKey()
	renewed := testutil.NewCA(t, "corp renewed")
	cert := presented(t, renewed.Issue(t, reporterOptions).Cert)
	g.Expect(f.decideWith("", cert, readScope).Result).To(Equal(Deny))

	logs := &logLines{}
	f.followAuthorities(t, funcr.New(logs.add, funcr.Options{}))

	path := f.authorities.list[0].CAFile
	testutil.WriteFile(t, path, renewed.CertPEM())
	g.Eventually(func() Result { return f.decideWith("", cert, readScope).Result }).WithTimeout(10 * time.Second).Should(Equal(Permit))

	testutil.WriteFile(t, path, []byte("-----BEGIN CERTIFICATE-----\ntruncated"))
	g.Eventually(logs.all).WithTimeout(10 * time.Second).Should(ContainElement(ContainSubstring("do not load; keeping the previous ones")))
	g.Expect(f.decideWith("", cert, readScope).Result).To(Equal(Permit))
}

// A bundle renewed between loading and the start of watching (a Secret
// updated while the verifier starts) is picked up all the same: the
// watcher compares with what was loaded, not with what it first saw.
func TestAuthoritiesRenewedBeforeWatchingStarts(t *testing.T) {
	g := NewWithT(t)
	f := newCertFixture(t, Options{})
	f.issueReporterKey()
	renewed := testutil.NewCA(t, "corp renewed")
	cert := presented(t, renewed.Issue(t, reporterOptions).Cert)
	testutil.WriteFile(t, f.authorities.list[0].CAFile, renewed.CertPEM())

	f.followAuthorities(t, logr.Discard())
	g.Eventually(func() Result { return f.decideWith("", cert, readScope).Result }).WithTimeout(10 * time.Second).Should(Equal(Permit))
}
