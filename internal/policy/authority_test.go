package policy

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/certbind"
)

// A policy's allowedAuthorities confine the certificates its keys may be
// bound to; a key must not weaken that by binding a thumbprint alone,
// which would admit a self-signed certificate.
func TestAllowedAuthorities(t *testing.T) {
	mesh := Rules{Name: "tenant-a", AllowedAuthorities: []string{"mesh-a", "partners"}}
	bound := func(b certbind.Binding) Key {
		return Key{Scopes: []string{"acme/payments/evidence:read"}, AuthMethods: []string{"MutualTLS"}, ClientCertificate: &b}
	}
	spiffe := "spiffe://example.org/ns/a/sa/reporter"
	thumbprint := "Kq2Wcu2Yk8uN8vXr8a5bx0JmP9dQh3sF1tL6wZ0yE4o"
	cases := map[string]struct {
		key   Key
		rules Rules
		want  []string
	}{
		"a name from an allowed authority":       {bound(certbind.Binding{URI: spiffe, Authority: "mesh-a"}), mesh, nil},
		"a thumbprint from an allowed authority": {bound(certbind.Binding{Thumbprint: thumbprint, Authority: "partners"}), mesh, nil},
		"another tenant's authority": {
			bound(certbind.Binding{URI: spiffe, Authority: "mesh-b"}), mesh,
			[]string{`spec.clientCertificate.authority: authority "mesh-b" is not allowed by KeyPolicy "tenant-a" (allowed: mesh-a, partners)`},
		},
		"a thumbprint without authority": {
			bound(certbind.Binding{Thumbprint: thumbprint}), mesh,
			[]string{`spec.clientCertificate.authority: KeyPolicy "tenant-a" requires a certificate issued by one of its authorities (mesh-a, partners): name one, even with a thumbprint`},
		},
		"no binding is no concern of this rule":                {Key{Scopes: []string{"acme/payments/evidence:read"}, AuthMethods: []string{"APIKey"}}, mesh, nil},
		"a policy without the list lets any authority through": {bound(certbind.Binding{Thumbprint: thumbprint}), Rules{Name: "open"}, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, vs := Evaluate(tc.key, []Rules{tc.rules}, false)
			expectViolations(g, vs, tc.want)
			for _, v := range vs {
				g.Expect(v.Policy).To(Equal(tc.rules.Name), "the policy that refuses is named, so it counts the key")
			}
		})
	}
}
