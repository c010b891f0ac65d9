package certbind_test

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/testutil"
)

func TestValidateNamesTheField(t *testing.T) {
	thumb := strings.Repeat("A", 43)
	for _, tc := range []struct {
		name    string
		binding certbind.Binding
		wantErr string
	}{
		{"thumbprint alone", certbind.Binding{Thumbprint: thumb}, ""},
		{"thumbprint and authority", certbind.Binding{Thumbprint: thumb, Authority: "corp-ca"}, ""},
		{"spiffe uri", certbind.Binding{URI: "spiffe://example.org/ns/payments/sa/reporter", Authority: "spire"}, ""},
		{"dns", certbind.Binding{DNSName: "reporter.payments.svc", Authority: "corp-ca", Credential: certbind.CertificateAndKey}, ""},
		{"email", certbind.Binding{Email: "ops@example.com", Authority: "corp-ca"}, ""},
		{"subject", certbind.Binding{Subject: "CN=reporter,O=Acme", Authority: "corp-ca"}, ""},
		{"nothing", certbind.Binding{}, "exactly one of"},
		{"two names", certbind.Binding{DNSName: "a.example", Email: "a@example.com", Authority: "ca"}, "exactly one of"},
		{"name without authority", certbind.Binding{DNSName: "a.example"}, "authority: required"},
		{"short thumbprint", certbind.Binding{Thumbprint: "abc"}, "thumbprint: not an x5t#S256"},
		{"padded thumbprint", certbind.Binding{Thumbprint: strings.Repeat("A", 42) + "="}, "thumbprint: not an x5t#S256"},
		{"relative uri", certbind.Binding{URI: "/ns/a", Authority: "ca"}, "uri:"},
		{"display-name email", certbind.Binding{Email: "Ops <ops@example.com>", Authority: "ca"}, "email:"},
		{"bad dns", certbind.Binding{DNSName: "a..example", Authority: "ca"}, "dnsName:"},
		{"bad authority", certbind.Binding{Thumbprint: thumb, Authority: "Corp CA"}, "authority:"},
		{"bad credential", certbind.Binding{Thumbprint: thumb, Credential: "Password"}, "credential:"},
		{"long subject", certbind.Binding{Subject: strings.Repeat("x", certbind.MaxNameLength+1), Authority: "ca"}, "subject: longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := tc.binding.Validate()
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
		})
	}
}

// Every binding kind matches its certificate and no other, and a
// certificate is looked up under the key its binding is indexed by.
func TestEveryBindingKindMatchesItsCertificateOnly(t *testing.T) {
	ca := testutil.NewCA(t, "corp")
	cert := ca.Issue(t, testutil.CertOptions{
		CommonName: "reporter", DNSNames: []string{"Reporter.Payments.svc"},
		URIs: []string{"spiffe://example.org/ns/payments/sa/reporter"}, Emails: []string{"ops@example.com"},
	}).Cert
	other := ca.Issue(t, testutil.CertOptions{
		CommonName: "intruder", DNSNames: []string{"intruder.svc"},
		URIs: []string{"spiffe://example.org/ns/payments/sa/intruder"}, Emails: []string{"intruder@example.com"},
	}).Cert
	for _, b := range []certbind.Binding{
		{Thumbprint: certbind.Thumbprint(cert.Raw)},
		{Subject: "CN=reporter", Authority: "corp"},
		{DNSName: "reporter.payments.svc", Authority: "corp"},
		{URI: "spiffe://example.org/ns/payments/sa/reporter", Authority: "corp"},
		{Email: "ops@EXAMPLE.com", Authority: "corp"},
	} {
		g := NewWithT(t)
		g.Expect(b.Validate()).To(Succeed())
		g.Expect(b.Matches(cert)).To(BeTrue(), "%+v", b)
		g.Expect(b.Matches(other)).To(BeFalse(), "%+v", b)
		g.Expect(certbind.LookupKeys(cert)).To(ContainElement(b.LookupKey()))
		g.Expect(certbind.LookupKeys(other)).NotTo(ContainElement(b.LookupKey()))
	}
}

// RFC 8705 §3.1: x5t#S256 is unpadded base64url of SHA-256 over the DER.
func TestThumbprintIsX5tS256(t *testing.T) {
	g := NewWithT(t)
	// SHA-256 of the empty string.
	g.Expect(certbind.Thumbprint(nil)).To(Equal("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"))
}

// A certificate with many names is looked up by a bounded number of them.
func TestLookupKeysAreBounded(t *testing.T) {
	g := NewWithT(t)
	var names []string
	for i := range 100 {
		names = append(names, strings.Repeat("a", i+1)+".example")
	}
	cert := testutil.NewCA(t, "ca").Issue(t, testutil.CertOptions{CommonName: "many", DNSNames: names}).Cert
	g.Expect(len(certbind.LookupKeys(cert))).To(BeNumerically("<=", 16))
}

func FuzzValidate(f *testing.F) {
	f.Add("", "CN=a", "", "", "", "ca", "")
	f.Add(strings.Repeat("A", 43), "", "", "", "", "", "CertificateAndKey")
	f.Add("", "", "a.example", "spiffe://x/y", "a@b.c", "ca", "Certificate")
	f.Fuzz(func(t *testing.T, thumb, subject, dns, uri, email, authority, credential string) {
		b := certbind.Binding{Thumbprint: thumb, Subject: subject, DNSName: dns, URI: uri, Email: email, Authority: authority, Credential: certbind.Credential(credential)}
		if b.Validate() == nil && b.LookupKey() == "" {
			t.Fatalf("a valid binding %+v has no lookup key", b)
		}
	})
}
