package testutil

import (
	"crypto/x509"
	"testing"
)

// Intermediate makes a CA that ca signed, for chains of more than one
// link.
func (ca *CA) Intermediate(t testing.TB, name string) *CA {
	t.Helper()
	return newCA(t, "creating intermediate "+name, name, ca)
}

// IssueFor signs a certificate for the given extended key usages only,
// e.g. a server certificate that must not authenticate a client.
func (ca *CA) IssueFor(t testing.TB, o CertOptions, usages ...x509.ExtKeyUsage) *Cert {
	t.Helper()
	tmpl := o.template(t)
	tmpl.ExtKeyUsage = usages
	return ca.sign(t, o.CommonName, tmpl, o.keyPair(t))
}
