package keys

import (
	"crypto/fips140"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/fipsmode"
)

// fastIterations keeps unit tests quick; TestDefaultIterations covers the
// real work factor once.
const fastIterations = 1000

func TestHashVerifiesOnlyTheSameKey(t *testing.T) {
	g := NewWithT(t)
	h, err := NewHasher(fastIterations, true)
	g.Expect(err).NotTo(HaveOccurred())
	k, _ := Generate("")
	other, _ := Generate(k.ID())

	phc, err := h.Hash(k)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(phc).To(MatchRegexp(`^\$pbkdf2-sha256\$i=1000\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`))
	g.Expect(phc).NotTo(ContainSubstring(k.Plaintext()))

	g.Expect(Verify(k, phc)).To(BeTrue())
	g.Expect(Verify(other, phc)).To(BeFalse())

	again, _ := h.Hash(k)
	g.Expect(again).NotTo(Equal(phc), "every hash has its own random salt")
	g.Expect(Verify(k, again)).To(BeTrue())
}

func TestDefaultIterations(t *testing.T) {
	g := NewWithT(t)
	h, err := NewHasher(0, false)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h.Iterations()).To(Equal(600_000))
	k, _ := Generate("")
	phc, err := h.Hash(k)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(phc).To(HavePrefix("$pbkdf2-sha256$i=600000$"))
	g.Expect(Verify(k, phc)).To(BeTrue())
}

func TestNewHasherRefusesWeakSettings(t *testing.T) {
	cases := map[string]struct {
		iterations int
		insecure   bool
		err        string
	}{
		"below default without the switch": {100_000, false, "need the explicit insecure"},
		"negative":                         {-1, true, "between 1 and"},
		"above the verifier's bound":       {MaxIterations + 1, false, "between 1 and"},
		"higher than default":              {1_000_000, false, ""},
		"low with the switch":              {1, true, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := NewHasher(tc.iterations, tc.insecure)
			if tc.err == "" {
				g.Expect(err).NotTo(HaveOccurred())
			} else {
				g.Expect(err).To(MatchError(ContainSubstring(tc.err)))
			}
		})
	}
}

func TestVerifyRefusesMalformedHashes(t *testing.T) {
	k, _ := Generate("")
	h, _ := NewHasher(fastIterations, true)
	good, _ := h.Hash(k)
	parts := strings.Split(good, "$")
	cases := map[string]string{
		"empty":           "",
		"other algorithm": strings.Replace(good, "pbkdf2-sha256", "pbkdf2-sha1", 1),
		"huge work":       "$pbkdf2-sha256$i=999999999$" + parts[3] + "$" + parts[4],
		"zero work":       "$pbkdf2-sha256$i=0$" + parts[3] + "$" + parts[4],
		"short salt":      "$pbkdf2-sha256$i=1000$AAAA$" + parts[4],
		"short hash":      "$pbkdf2-sha256$i=1000$" + parts[3] + "$AAAA",
		"bad base64":      "$pbkdf2-sha256$i=1000$" + parts[3] + "$!!!",
		"extra field":     good + "$x",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ok, err := Verify(k, in)
			g.Expect(err).To(MatchError(ErrMalformedHash))
			g.Expect(ok).To(BeFalse())
		})
	}
}

func FuzzParseHash(f *testing.F) {
	k, _ := Generate("")
	h, _ := NewHasher(fastIterations, true)
	good, _ := h.Hash(k)
	f.Add(good)
	f.Add("$pbkdf2-sha256$i=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseHash(s)
		if err == nil && (p.Iterations < 1 || p.Iterations > MaxIterations) {
			t.Fatalf("accepted work factor %d", p.Iterations)
		}
	})
}

func BenchmarkPBKDF2Default(b *testing.B) {
	h, _ := NewHasher(0, false)
	k, _ := Generate("")
	for b.Loop() {
		if _, err := h.Hash(k); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

// In FIPS mode (GODEBUG=fips140=on or only, as make test runs this package)
// a stored hash below SP 800-132's iteration count is refused, naming why;
// outside it the same hash verifies.
func TestVerifyInFIPSModeRefusesTooFewIterations(t *testing.T) {
	g := NewWithT(t)
	h, err := NewHasher(fipsmode.MinPBKDF2Iterations-1, true)
	g.Expect(err).NotTo(HaveOccurred())
	k, _ := Generate("")
	phc, err := h.Hash(k)
	g.Expect(err).NotTo(HaveOccurred())
	ok, err := Verify(k, phc)
	if fips140.Enabled() {
		g.Expect(err).To(MatchError(ErrHashNotAllowed))
		g.Expect(err).To(MatchError("the stored hash is not allowed in FIPS mode: 999 PBKDF2 iterations; FIPS mode needs at least 1000 (NIST SP 800-132)"))
		g.Expect(ok).To(BeFalse())
		return
	}
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue())
}
