package keys

import (
	"fmt"
	"hash/crc32"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestGenerateHasTheDocumentedShape(t *testing.T) {
	g := NewWithT(t)
	scan := regexp.MustCompile(`^` + ScanPattern + `$`)
	seen := map[string]bool{}
	for range 200 {
		k, err := Generate("")
		g.Expect(err).NotTo(HaveOccurred())
		p := k.Plaintext()
		g.Expect(p).To(HaveLen(Length))
		g.Expect(scan.MatchString(p)).To(BeTrue(), "secret scanners' pattern must match every key")
		g.Expect(seen).NotTo(HaveKey(p))
		seen[p] = true

		parsed, err := Parse(p)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(parsed.ID()).To(Equal(k.ID()))
		g.Expect(parsed.Equal(k)).To(BeTrue())
	}
}

func TestGenerateKeepsAGivenID(t *testing.T) {
	g := NewWithT(t)
	a, err := Generate("")
	g.Expect(err).NotTo(HaveOccurred())
	b, err := Generate(a.ID())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(b.ID()).To(Equal(a.ID()))
	g.Expect(a.Equal(b)).To(BeFalse(), "a rotation keeps the ID and replaces the secret")

	_, err = Generate("NOT-AN-ID")
	g.Expect(err).To(MatchError(ContainSubstring("key ID must be 16 characters")))
}

func TestSecretAlphabetIsUsedUniformly(t *testing.T) {
	// Rejection sampling must reach every symbol; a modulo bias or a short
	// alphabet would show up as missing symbols over this many draws.
	g := NewWithT(t)
	counts := map[byte]int{}
	for range 300 {
		k, err := Generate("")
		g.Expect(err).NotTo(HaveOccurred())
		for i := 0; i < len(k.secret); i++ {
			counts[k.secret[i]]++
		}
	}
	g.Expect(counts).To(HaveLen(62))
	for c, n := range counts {
		// 300*43/62 ≈ 208 expected per symbol.
		g.Expect(n).To(BeNumerically(">", 120), "symbol %q", c)
		g.Expect(n).To(BeNumerically("<", 320), "symbol %q", c)
	}
}

func TestParseRefusesMalformedKeys(t *testing.T) {
	k, err := Generate("")
	if err != nil {
		t.Fatal(err)
	}
	good := k.Plaintext()
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	cases := map[string]struct {
		in   string
		want error
	}{
		"empty":                 {"", ErrLength},
		"truncated":             {good[:Length-1], ErrLength},
		"extra character":       {good + "x", ErrLength},
		"other prefix":          {"keywarx" + good[7:], ErrPrefix},
		"upper case id":         {good[:8] + "A" + good[9:], ErrCharset},
		"missing separator":     {good[:24] + "-" + good[25:], ErrCharset},
		"url-unsafe character":  {good[:30] + "+" + good[31:], ErrCharset},
		"one secret char typo":  {flip(40), ErrChecksum},
		"one id char typo":      {flip(10), ErrChecksum},
		"checksum char changed": {flip(Length - 1), ErrChecksum},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := Parse(tc.in)
			g.Expect(err).To(MatchError(tc.want))
			if tc.in != "" {
				g.Expect(err.Error()).NotTo(ContainSubstring(tc.in[len(Prefix):]), "errors never repeat the input")
			}
		})
	}
}

func TestFormattingNeverShowsTheSecret(t *testing.T) {
	g := NewWithT(t)
	k, err := Generate("")
	g.Expect(err).NotTo(HaveOccurred())
	secretPart := k.Plaintext()[len(Prefix)+IDLength+1:]
	for _, s := range []string{
		k.String(), fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %q", k, k, k, k, k),
		fmt.Sprintf("%v", []Key{k}), fmt.Sprintf("%+v", struct{ K Key }{k}),
	} {
		g.Expect(s).NotTo(ContainSubstring(secretPart))
		g.Expect(s).To(ContainSubstring(k.ID()))
	}
}

func TestEqualIsExact(t *testing.T) {
	g := NewWithT(t)
	a, _ := Generate("")
	b, _ := Parse(a.Plaintext())
	c, _ := Generate(a.ID())
	g.Expect(a.Equal(b)).To(BeTrue())
	g.Expect(a.Equal(c)).To(BeFalse())
	g.Expect(a.Equal(Key{})).To(BeFalse())
}

func FuzzParse(f *testing.F) {
	k, _ := Generate("")
	f.Add(k.Plaintext())
	f.Add("")
	f.Add(Prefix)
	f.Add(strings.Repeat("a", Length))
	f.Add(k.Plaintext()[:Length-1] + "0")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := Parse(s)
		if err != nil {
			if key != (Key{}) {
				t.Fatalf("a refused key returned data")
			}
			return
		}
		if key.Plaintext() != s {
			t.Fatalf("round trip changed the key")
		}
		if !regexp.MustCompile(`^` + ScanPattern + `$`).MatchString(s) {
			t.Fatalf("accepted a key the scan pattern misses")
		}
	})
}

func TestChecksumIsCRC32IEEE(t *testing.T) {
	g := NewWithT(t)
	for _, s := range []string{"", "a", "keyward_abcdefghijklmnop_0123456789", strings.Repeat("\xff", 100)} {
		g.Expect(crcString(s)).To(Equal(crc32.ChecksumIEEE([]byte(s))), s)
	}
	k, err := Generate("")
	g.Expect(err).NotTo(HaveOccurred())
	p := k.Plaintext()
	g.Expect(testing.AllocsPerRun(100, func() { _, _ = Parse(p) })).To(BeZero(), "Parse runs on every request")
}
