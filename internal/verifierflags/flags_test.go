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
		Deployed("keyward-verifier", "", false),
		Deployed("keyward-verifier", "/etc/keyward/verifier.yaml", true),
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
	g.Expect(got).To(Equal(Deployed("keyward-verifier", "", false)))
}
