package keys

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func testLookupKey(t testing.TB, secret []byte) *LookupKey {
	t.Helper()
	l, err := NewLookupKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestValidateForeign(t *testing.T) {
	k, _ := Generate("")
	cases := map[string]struct {
		s     string
		valid bool
		want  string
	}{
		"a Stripe-style key":          {"sk_live_4eC39HqLyjWDarjtT1zdp7dc", true, ""},
		"a UUID":                      {"0b9c3a4e-7d1f-4c2b-9a8e-5f6d7c8b9a0e", true, ""},
		"punctuation of every kind":   {`!"#$%&'()*+-/:;<=>?@[\]^_{|}~abc`, true, ""},
		"exactly 20 characters":       {strings.Repeat("a", 20), true, ""},
		"exactly 256 characters":      {strings.Repeat("a", 256), true, ""},
		"19 characters":               {strings.Repeat("a", 19), false, "19 characters"},
		"257 characters":              {strings.Repeat("a", 257), false, "257 characters"},
		"a space":                     {"sk_live_4eC39HqLy WDarjtT1zdp7dc", false, "position 18"},
		"a tab":                       {"sk_live_4eC39HqLy\tWDarjtT1zdp7dc", false, "position 18"},
		"a comma":                     {"sk_live_4eC39HqLy,WDarjtT1zdp7dc", false, "position 18"},
		"a non-ASCII character":       {"sk_live_4eC39HqLyéWDarjtT1zdp7dc", false, "position 18"},
		"a control character":         {"sk_live_4eC39HqLy\x00WDarjtT1zdp7dc", false, "position 18"},
		"DEL":                         {"sk_live_4eC39HqLy\x7fWDarjtT1zdp7dc", false, "position 18"},
		"a keyward key":               {k.Plaintext(), false, "keyward's format"},
		"a keyward key, bad checksum": {k.Plaintext()[:Length-1] + "!", false, "keyward's format"},
		"keyward's prefix alone":      {Prefix + strings.Repeat("x", 30), false, "keyward's format"},
		"a JWT's form":                {"eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl", false, "JWT"},
		"a keyward key's secret part": {k.Plaintext()[len(Prefix)+IDLength+1:], true, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := ValidateForeign(c.s)
			if c.valid {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(c.want)))
			g.Expect(err.Error()).NotTo(ContainSubstring(c.s), "the error must not repeat the key")
		})
	}
}

func TestForeignKeyIsHashedAndRedactedLikeAnyKey(t *testing.T) {
	g := NewWithT(t)
	const plain = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
	id, _ := NewID()
	k, err := Foreign(id, plain)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k.IsForeign()).To(BeTrue())
	g.Expect(k.ID()).To(Equal(id))
	g.Expect(k.Plaintext()).To(Equal(plain))
	for _, shown := range []string{k.String(), fmt.Sprintf("%v", k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k)} {
		g.Expect(shown).NotTo(ContainSubstring(plain))
		g.Expect(shown).To(ContainSubstring(id))
	}
	h, _ := NewHasher(fastIterations, true)
	phc, err := h.Hash(k)
	g.Expect(err).NotTo(HaveOccurred())
	ok, err := Verify(k, phc)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue())
	other, _ := Foreign(id, plain+"x")
	ok, _ = Verify(other, phc)
	g.Expect(ok).To(BeFalse())
	// A keyward key of the same ID is another key.
	kw, _ := Generate(id)
	ok, _ = Verify(kw, phc)
	g.Expect(ok).To(BeFalse())
	g.Expect(kw.Equal(k)).To(BeFalse())

	_, err = Foreign("NOT-AN-ID", plain)
	g.Expect(err).To(HaveOccurred())
	_, err = Foreign(id, kw.Plaintext())
	g.Expect(err).To(MatchError(ContainSubstring("keyward's format")))
}

func TestLookupID(t *testing.T) {
	g := NewWithT(t)
	secret := make([]byte, LookupKeyLength)
	for i := range secret {
		secret[i] = byte(i)
	}
	l := testLookupKey(t, secret)
	// HMAC-SHA256 under bytes 0..31, base32 (RFC 4648, lower case), 16
	// characters: computed independently.
	g.Expect(l.ID("sk_live_4eC39HqLyjWDarjtT1zdp7dc")).To(Equal("iyophnot4ilt5zvx"))
	g.Expect(ValidLookupID(l.ID("anything at all"))).To(BeTrue())
	g.Expect(l.ID("sk_live_4eC39HqLyjWDarjtT1zdp7dc")).NotTo(Equal(l.ID("sk_live_4eC39HqLyjWDarjtT1zdp7dd")))

	other := testLookupKey(t, bytes.Repeat([]byte{7}, LookupKeyLength))
	g.Expect(other.ID("sk_live_4eC39HqLyjWDarjtT1zdp7dc")).NotTo(Equal(l.ID("sk_live_4eC39HqLyjWDarjtT1zdp7dc")))
	g.Expect(l.Equal(testLookupKey(t, secret))).To(BeTrue())
	g.Expect(l.Equal(other)).To(BeFalse())

	// The secret is copied, and never shown.
	secret[0] = 99
	g.Expect(l.ID("sk_live_4eC39HqLyjWDarjtT1zdp7dc")).To(Equal("iyophnot4ilt5zvx"))
	for _, shown := range []string{fmt.Sprintf("%v", l), fmt.Sprintf("%+v", l), fmt.Sprintf("%#v", l), fmt.Sprint(*l)} {
		g.Expect(shown).To(Or(Equal("keys.LookupKey{redacted}"), Not(ContainSubstring("\x01\x02\x03"))))
	}

	for _, n := range []int{0, 16, 31, 33} {
		_, err := NewLookupKey(make([]byte, n))
		g.Expect(err).To(MatchError(ContainSubstring(fmt.Sprintf("not %d", n))))
	}
	g.Expect(ValidLookupID("iyophnot4ilt5zvx")).To(BeTrue())
	g.Expect(ValidLookupID("IYOPHNOT4ILT5ZVX")).To(BeFalse())
	g.Expect(ValidLookupID("iyophnot4ilt5zv")).To(BeFalse())
}

// FuzzForeign: whatever a credential is, it is either keyward's (Parse)
// or possibly foreign, never both; a foreign key round-trips and is never
// shown; its lookup ID has its form.
func FuzzForeign(f *testing.F) {
	k, _ := Generate("")
	for _, s := range []string{"sk_live_4eC39HqLyjWDarjtT1zdp7dc", k.Plaintext(), k.Plaintext()[8:], "a.b.c", strings.Repeat("z", 300), ""} {
		f.Add(s)
	}
	l := testLookupKey(f, bytes.Repeat([]byte{3}, LookupKeyLength))
	id, _ := NewID()
	f.Fuzz(func(t *testing.T, s string) {
		_, parseErr := Parse(s)
		fk, err := Foreign(id, s)
		if err != nil {
			return
		}
		if parseErr == nil {
			t.Fatalf("a keyward key was accepted as foreign")
		}
		if fk.Plaintext() != s || fk.ID() != id || strings.Contains(fk.String(), s) || strings.Contains(fk.GoString(), s) {
			t.Fatalf("foreign key does not round-trip or is shown")
		}
		if !ValidLookupID(l.ID(s)) {
			t.Fatalf("lookup ID of the wrong form")
		}
	})
}

func TestParseFor(t *testing.T) {
	g := NewWithT(t)
	k, _ := Generate("")
	other, _ := Generate("")
	k2, err := ParseFor(k.ID(), k.Plaintext())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k2.Equal(k)).To(BeTrue())
	g.Expect(k2.IsForeign()).To(BeFalse())

	_, err = ParseFor(k.ID(), other.Plaintext())
	g.Expect(err).To(MatchError(ContainSubstring("another key ID")), "a keyward key of another ID is never taken as foreign")
	_, err = ParseFor(k.ID(), k.Plaintext()[:Length-1]+"!")
	g.Expect(err).To(HaveOccurred(), "a damaged keyward key is never taken as foreign")

	f, err := ParseFor(k.ID(), "sk_live_4eC39HqLyjWDarjtT1zdp7dc")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.IsForeign()).To(BeTrue())
	g.Expect(f.ID()).To(Equal(k.ID()))
	_, err = ParseFor(k.ID(), "short")
	g.Expect(err).To(HaveOccurred())
}
