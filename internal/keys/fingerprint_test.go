package keys

import (
	"bytes"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func testFingerprinter(t testing.TB, id string, fill byte) *Fingerprinter {
	t.Helper()
	f, err := NewFingerprinter(id, bytes.Repeat([]byte{fill}, FingerprintKeyLength))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFingerprintMatch(t *testing.T) {
	f := testFingerprinter(t, "a1", 1)
	k, _ := Generate("")
	other, _ := Generate(k.ID())
	fp := f.Fingerprint(k)
	cases := map[string]struct {
		key          Key
		fp           string
		match, known bool
	}{
		"its own key":                   {k, fp, true, true},
		"another secret of the same ID": {other, fp, false, true},
		"made under another key":        {k, testFingerprinter(t, "b2", 2).Fingerprint(k), false, false},
		"same ID, other secret bytes":   {k, testFingerprinter(t, "a1", 3).Fingerprint(k), false, true},
		"empty":                         {k, "", false, false},
		"another scheme":                {k, "sha256:a1:" + strings.Repeat("A", 43), false, false},
		"damaged MAC":                   {k, fp[:len(fp)-2], false, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			match, known := f.Match(tc.key, tc.fp)
			g.Expect(match).To(Equal(tc.match))
			g.Expect(known).To(Equal(tc.known))
		})
	}
}

func TestFingerprintRevealsNoSecret(t *testing.T) {
	g := NewWithT(t)
	f := testFingerprinter(t, "a1", 1)
	k, _ := Generate("")
	fp := f.Fingerprint(k)
	g.Expect(ValidFingerprint(fp)).To(BeTrue())
	g.Expect(fp).NotTo(ContainSubstring(k.Plaintext()[len(Prefix)+IDLength+1:][:8]))
	g.Expect(f.Fingerprint(k)).To(Equal(fp), "deterministic under one key")
}

func TestNewFingerprinterRefusesBadKeys(t *testing.T) {
	g := NewWithT(t)
	_, err := NewFingerprinter("a1", []byte("short"))
	g.Expect(err).To(MatchError(ContainSubstring("32 bytes")))
	_, err = NewFingerprinter("a:1", bytes.Repeat([]byte{1}, FingerprintKeyLength))
	g.Expect(err).To(MatchError(ContainSubstring("colons")))
}

func FuzzFingerprintMatch(f *testing.F) {
	fp := testFingerprinter(f, "a1", 1)
	k, _ := Generate("")
	f.Add(fp.Fingerprint(k))
	f.Add("hmac-sha256:a1:")
	f.Fuzz(func(t *testing.T, s string) {
		match, known := fp.Match(k, s)
		if match && (!known || s != fp.Fingerprint(k)) {
			t.Fatalf("matched %q", s)
		}
	})
}
