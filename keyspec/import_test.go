package keyspec_test

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/keyspec"
)

func TestImportedPlaintext(t *testing.T) {
	kw, _ := keys.Generate("")
	const foreign = "sk_live_51HxLegacyKeyFromTheOldSystem"
	cases := map[string]struct {
		plain   string
		foreign bool
		refusal string
	}{
		"a keyward key keeps its key ID":      {kw.Plaintext(), false, ""},
		"a foreign key":                       {foreign, true, ""},
		"a keyward key with a wrong checksum": {kw.Plaintext()[:keys.Length-1] + "!", false, "starts like a key in keyward's format"},
		"a truncated keyward key":             {kw.Plaintext()[:40], false, "starts like a key in keyward's format"},
		"too short for a foreign key":         {"sk_live_51Hx", false, "neither a key in keyward's format nor"},
		"a space":                             {"sk_live_51HxLegacy KeyFromTheOldSystem", false, "position 19"},
		"a JWT":                               {"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", false, "JWT"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			k, err := keyspec.ImportedPlaintext([]byte(c.plain))
			if c.refusal != "" {
				g.Expect(err).To(MatchError(ContainSubstring(c.refusal)))
				g.Expect(err.Error()).NotTo(ContainSubstring(c.plain))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(k.Plaintext()).To(Equal(c.plain))
			g.Expect(k.IsForeign()).To(Equal(c.foreign))
			if !c.foreign {
				g.Expect(k.ID()).To(Equal(kw.ID()))
				return
			}
			g.Expect(keys.ValidateID(k.ID())).To(Succeed())
			g.Expect(strings.Contains(c.plain, k.ID())).To(BeFalse())
			again, _ := keyspec.ImportedPlaintext([]byte(c.plain))
			g.Expect(again.ID()).NotTo(Equal(k.ID()), "each import gets a fresh key ID")
		})
	}
}
