package verifierflags

import (
	"flag"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/servingtls"
)

// What the manager renders, the verifier parses back into the same flags.
func TestDeployedArgsParseBack(t *testing.T) {
	g := NewWithT(t)
	for _, want := range []Flags{
		Deployed("keyward-verifier", "", false, TLS{}),
		Deployed("keyward-verifier", "/etc/keyward/verifier.yaml", true, TLS{}),
		Deployed("keyward-verifier", "", false, TLS{CertFile: "/etc/keyward/tls/tls.crt", KeyFile: "/etc/keyward/tls/tls.key"}),
		Deployed("keyward-verifier", "", false, TLS{CertFile: "/etc/keyward/tls/tls.crt", KeyFile: "/etc/keyward/tls/tls.key", ClientCAFile: "/etc/keyward/client-ca/ca.crt", ClientAuth: "required"}),
		Deployed("keyward-verifier", "", false, TLS{CertFile: "/etc/keyward/tls/tls.crt", KeyFile: "/etc/keyward/tls/tls.key", ClientCAFile: "/etc/keyward/client-ca/ca.crt", ClientAuth: "required",
			PublicClientAuth: "request"}),
		Deployed("keyward-verifier", "", false, TLS{CertFile: "/etc/keyward/tls/tls.crt", KeyFile: "/etc/keyward/tls/tls.key", ClientAuth: "request",
			PublicClientAuth: "optional", PublicClientCAFile: "/etc/keyward/public-client-ca/ca.crt"}),
		// The public port's "none" is not its default, which is the
		// decision port's mode.
		Deployed("keyward-verifier", "", false, TLS{CertFile: "/etc/keyward/tls/tls.crt", KeyFile: "/etc/keyward/tls/tls.key", ClientAuth: "request", PublicClientAuth: "none"}),
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
	g.Expect(Deployed("keyward-verifier", "", false, TLS{}).Args()).NotTo(ContainElement(Or(HavePrefix("--tls-"), HavePrefix("--public-tls-"))))
	g.Expect(Deployed("keyward-verifier", "", false, TLS{CertFile: "/c", KeyFile: "/k", ClientCAFile: "/ca", ClientAuth: "optional"}).Args()).To(ContainElements(
		"--tls-cert-file=/c", "--tls-key-file=/k", "--tls-client-ca-file=/ca", "--tls-client-auth=optional"))
}

// Without flags of its own the public port asks for client certificates
// as the decision port does; with them, it asks as they say, from the same
// certificate and key.
func TestPublicFiles(t *testing.T) {
	g := NewWithT(t)
	shared := TLS{CertFile: "/c", KeyFile: "/k", ClientCAFile: "/ca", ClientAuth: "required"}
	g.Expect(shared.SeparatePublic()).To(BeFalse())
	g.Expect(shared.PublicFiles()).To(Equal(shared.Files()))

	own := shared
	own.PublicClientAuth = "request"
	g.Expect(own.SeparatePublic()).To(BeTrue())
	g.Expect(own.PublicFiles()).To(Equal(servingtls.Files{CertFile: "/c", KeyFile: "/k", ClientAuth: servingtls.ClientAuthRequest}))
	g.Expect(own.Files()).To(Equal(shared.Files()), "the decision port keeps its own mode")
	g.Expect(Deployed("keyward-verifier", "", false, own).Args()).To(ContainElement("--public-tls-client-auth=request"))

	caAlone := shared
	caAlone.PublicClientCAFile = "/public-ca"
	_, err := caAlone.PublicFiles()
	g.Expect(err).To(MatchError(ContainSubstring("--public-tls-client-ca-file needs --public-tls-client-auth (optional or required)")))
}
