package verifier

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/scope"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// certFixture is a fixture whose verifier knows two authorities, "corp"
// and "other", and whose clock is the real time of the test certificates.
type certFixture struct {
	*fixture
	corp, other *testutil.CA
	authorities *Authorities
}

func newCertFixture(t *testing.T, o Options) *certFixture {
	t.Helper()
	corp, other := testutil.NewCA(t, "corp"), testutil.NewCA(t, "other")
	dir := t.TempDir()
	auth, err := LoadAuthorities([]CertificateAuthority{
		{Name: "corp", CAFile: corp.WriteFile(t, dir, "corp")},
		{Name: "other", CAFile: other.WriteFile(t, dir, "other")},
	})
	if err != nil {
		t.Fatal(err)
	}
	o.Authorities = auth
	f := newFixture(t, o)
	f.clock.SetTime(time.Now().Truncate(time.Second))
	return &certFixture{fixture: f, corp: corp, other: other, authorities: auth}
}

// bind gives a key a certificate binding and the auth methods given, and
// publishes it.
func (f *fixture) bind(i *issued, b certbind.Binding, methods ...string) {
	f.t.Helper()
	if err := b.Validate(); err != nil {
		f.t.Fatal(err)
	}
	i.rec.ClientCertificate = &b
	i.rec.AuthMethods = methods
	i.rec.Version++
	f.publish(i)
}

// issueReporterKey issues a key for readScope that accepts mutual TLS
// only, bound to the reporter's SPIFFE ID as authority "corp" issues it.
func (f *fixture) issueReporterKey() *issued {
	f.t.Helper()
	k := f.issue(readScope)
	f.bind(k, certbind.Binding{URI: spiffeReporter, Authority: "corp"}, mutualTLSOnly...)
	return k
}

// followAuthorities runs the authorities' reload loop, checking the files
// every 10ms, until the test ends.
func (f *certFixture) followAuthorities(t *testing.T, log logr.Logger) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.authorities.Run(ctx, 10*time.Millisecond, log)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// presented is the certificate a client sends, leaf first.
func presented(t testing.TB, chain ...*x509.Certificate) ClientCertificate {
	t.Helper()
	cc, err := newClientCertificate(chain)
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

// decideWith asks about res with a key (or none, "") and a certificate.
func (f *fixture) decideWith(cred string, cc ClientCertificate, res string) Decision {
	f.t.Helper()
	r, a := resourceOf(scope.MustParse(res))
	req := Request{Credential: cred, Resource: r, Action: a, ClientCertificate: cc}
	if cred == "" {
		req.CredentialProblem = CredentialMissing
	}
	return f.v.Decide(context.Background(), req)
}

const spiffeReporter = "spiffe://example.org/ns/payments/sa/reporter"

// reporterOptions name the reporter workload in every way a binding can.
var reporterOptions = testutil.CertOptions{
	CommonName: "reporter", DNSNames: []string{"reporter.payments.svc"},
	URIs: []string{spiffeReporter}, Emails: []string{"reporter@example.com"},
}

var mutualTLSOnly = []string{record.AuthMutualTLS}
