package verifierflags

import (
	"flag"
	"testing"

	. "github.com/onsi/gomega"
)

// What the manager renders, the verifier parses back into the same flags.
func TestDeployedArgsParseBack(t *testing.T) {
	g := NewWithT(t)
	for _, want := range []Flags{
		Deployed("keyward-verifier", "", false, TLS{}),
		Deployed("keyward-verifier", "/etc/keyward/verifier.yaml", true, TLS{}),
		Deployed("keyward-verifier", "", false, TLS{CertFile: "/etc/keyward/tls/tls.crt", KeyFile: "/etc/keyward/tls/tls.key"}),
		Deployed("keyward-verifier", "", false, TLS{CertFile: "/etc/keyward/tls/tls.crt", KeyFile: "/etc/keyward/tls/tls.key", ClientCAFile: "/etc/keyward/client-ca/ca.crt", ClientAuth: "required"}),
	} {
		var got Flags
		fs := flag.NewFlagSet("verifier", flag.ContinueOnError)
		got.Bind(fs, "elsewhere")
		g.Expect(fs.Parse(want.Args())).To(Succeed())
		g.Expect(got).To(Equal(want))
	}
}

// The defaults are the deployed ports, so a verifier run by hand listens
// where the manager's Service would send requests.
func TestDefaultsAreTheDeployedPorts(t *testing.T) {
	g := NewWithT(t)
	var got Flags
	fs := flag.NewFlagSet("verifier", flag.ContinueOnError)
	got.Bind(fs, "keyward-verifier")
	g.Expect(fs.Parse(nil)).To(Succeed())
	g.Expect(got).To(Equal(Deployed("keyward-verifier", "", false, TLS{})))
}

// Without TLS the command line carries no TLS flag, so a verifier deployed
// before TLS existed is rendered as it was.
func TestPlainDeploymentHasNoTLSFlags(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Deployed("keyward-verifier", "", false, TLS{}).Args()).NotTo(ContainElement(HavePrefix("--tls-")))
	g.Expect(Deployed("keyward-verifier", "", false, TLS{CertFile: "/c", KeyFile: "/k", ClientCAFile: "/ca", ClientAuth: "optional"}).Args()).To(ContainElements(
		"--tls-cert-file=/c", "--tls-key-file=/k", "--tls-client-ca-file=/ca", "--tls-client-auth=optional"))
}
