package certbind_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/certbind"
)

var (
	oidCommonName   = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOrganization = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidSubjectAlt   = asn1.ObjectIdentifier{2, 5, 29, 17}
)

// rawCertificate makes a self-signed certificate whose subject is exactly
// rdns, in order, and whose URI SANs are exactly uris, byte for byte: the
// x509 package would rewrite both.
func rawCertificate(t *testing.T, rdns pkix.RDNSequence, uris ...string) *x509.Certificate {
	t.Helper()
	g := NewWithT(t)
	subject, err := asn1.Marshal(rdns)
	g.Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{RawSubject: subject}
	if len(uris) > 0 {
		var names []asn1.RawValue
		for _, u := range uris {
			names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(u)})
		}
		san, err := asn1.Marshal(names)
		g.Expect(err).NotTo(HaveOccurred())
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidSubjectAlt, Value: san}}
	}
	return selfSigned(t, tmpl)
}

func selfSigned(t *testing.T, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	g := NewWithT(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	tmpl.SerialNumber = big.NewInt(1)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	g.Expect(err).NotTo(HaveOccurred())
	cert, err := x509.ParseCertificate(der)
	g.Expect(err).NotTo(HaveOccurred())
	return cert
}

// pkix.Name.String() keeps only the last CN, puts the attributes it knows
// in a fixed order and flattens multi-valued RDNs: a CA whose policy looks
// at the first CN (the requester's own) would issue "O=Acme, CN=mallory,
// CN=payments" to mallory, and that subject must not pass for
// "CN=payments,O=Acme". Neither may one multi-valued RDN.
func TestAttackSubjectWithASecondCNOrAMultiValuedRDNMatchesNoSubjectBinding(t *testing.T) {
	b := certbind.Binding{Subject: "CN=payments,O=Acme", Authority: "corp"}
	for name, rdns := range map[string]pkix.RDNSequence{
		"two CNs":          {{{Type: oidOrganization, Value: "Acme"}}, {{Type: oidCommonName, Value: "mallory"}}, {{Type: oidCommonName, Value: "payments"}}},
		"multi-valued RDN": {{{Type: oidOrganization, Value: "Acme"}, {Type: oidCommonName, Value: "payments"}}},
	} {
		g := NewWithT(t)
		cert := rawCertificate(t, rdns)
		g.Expect(b.Matches(cert)).To(BeFalse(), "%s: subject %v matches binding %q", name, rdns, b.Subject)
		g.Expect(certbind.LookupKeys(cert)).NotTo(ContainElement(b.LookupKey()), name)
	}

	g := NewWithT(t)
	exact := rawCertificate(t, pkix.RDNSequence{{{Type: oidOrganization, Value: "Acme"}}, {{Type: oidCommonName, Value: "payments"}}})
	g.Expect(b.Matches(exact)).To(BeTrue(), "the subject the binding names")
	g.Expect(certbind.LookupKeys(exact)).To(ContainElement(b.LookupKey()))
	g.Expect(certbind.LookupKeys(rawCertificate(t, pkix.RDNSequence{{{Type: oidOrganization, Value: "Acme"}, {Type: oidCommonName, Value: "payments"}}}))).
		To(ContainElement("subject:O=Acme+CN=payments"), "a multi-valued RDN is looked up as one")
	twoCNs := certbind.Binding{Subject: "CN=payments,CN=mallory,O=Acme", Authority: "corp"}
	g.Expect(twoCNs.Matches(rawCertificate(t, pkix.RDNSequence{{{Type: oidOrganization, Value: "Acme"}}, {{Type: oidCommonName, Value: "mallory"}}, {{Type: oidCommonName, Value: "payments"}}}))).
		To(BeTrue(), "a subject with two CNs is bound by naming both")
}

// url.URL.String() drops an empty fragment or query: a certificate for
// "spiffe://example.org/ns/payments/sa/reporter#" is not the SPIFFE ID a
// binding names, whichever of the two the binding names.
func TestAttackURIThatPrintsLikeTheBoundOneMatchesNoURIBinding(t *testing.T) {
	const id = "spiffe://example.org/ns/payments/sa/reporter"
	for _, tc := range []struct{ bound, presented string }{
		{id, id + "#"}, {id, id + "?"}, {id + "#", id}, {id, "SPIFFE://example.org/ns/payments/sa/reporter"},
	} {
		g := NewWithT(t)
		b := certbind.Binding{URI: tc.bound, Authority: "spire"}
		g.Expect(b.Validate()).To(Succeed())
		cert := rawCertificate(t, nil, tc.presented)
		g.Expect(b.Matches(cert)).To(BeFalse(), "binding %q, certificate %q", tc.bound, tc.presented)
		g.Expect(certbind.LookupKeys(cert)).NotTo(ContainElement(b.LookupKey()), "binding %q, certificate %q", tc.bound, tc.presented)
		same := rawCertificate(t, nil, tc.bound)
		g.Expect(b.Matches(same)).To(BeTrue(), "binding %q, certificate %q", tc.bound, tc.bound)
		g.Expect(certbind.LookupKeys(same)).To(ContainElement(b.LookupKey()))
	}
}

// An e-mail binding is compared as RFC 5321 has it, the same way by every
// path: the domain without regard to ASCII case, the local part exactly.
// Unicode case folding ("ſ" folds to "s") would let Matches and the index
// disagree, so a binding outside ASCII is refused.
func TestAttackEmailBindingFoldsOnlyTheDomainAndOnlyASCII(t *testing.T) {
	g := NewWithT(t)
	g.Expect(certbind.Binding{Email: "ſmith@example.com", Authority: "corp"}.Validate()).To(MatchError(ContainSubstring("email: ")))
	g.Expect(certbind.Binding{Email: "smith@exampl\u212a.com", Authority: "corp"}.Validate()).To(MatchError(ContainSubstring("email: ")),
		"the Kelvin sign folds to k")

	cert := selfSigned(t, &x509.Certificate{EmailAddresses: []string{"smith@example.com"}})
	for bound, want := range map[string]bool{
		"smith@example.com": true,
		"smith@EXAMPLE.Com": true,
		"Smith@example.com": false,
		"SMITH@example.com": false,
	} {
		b := certbind.Binding{Email: bound, Authority: "corp"}
		g.Expect(b.Validate()).To(Succeed(), bound)
		g.Expect(b.Matches(cert)).To(Equal(want), bound)
		if want {
			g.Expect(certbind.LookupKeys(cert)).To(ContainElement(b.LookupKey()), bound)
		} else {
			g.Expect(certbind.LookupKeys(cert)).NotTo(ContainElement(b.LookupKey()), bound)
		}
	}
}
