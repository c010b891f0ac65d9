package keys

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// The vectors were computed with Python's hashlib.pbkdf2_hmac, an
// implementation independent of this package, over importedKey with the
// salt bytes 200..215 and 29000 iterations (passlib's default).
const (
	importedKey   = "keyward_importedkey2345a_Yjlne2G9x1EZNMjdCQfLHHyzg4Yu0wFypRJhwiN8xFi460DqN"
	importedPHC   = "$pbkdf2-sha256$i=29000$yMnKy8zNzs/Q0dLT1NXW1w$PMpEOhd2OuQsd33bYhN+3V9B7oaurW01dY1jehRSJ+I"
	importedPassl = "$pbkdf2-sha256$29000$yMnKy8zNzs/Q0dLT1NXW1w$PMpEOhd2OuQsd33bYhN.3V9B7oaurW01dY1jehRSJ.I"
)

func TestParseImportHashAcceptsPHCAndPasslib(t *testing.T) {
	g := NewWithT(t)
	k, err := Parse(importedKey)
	g.Expect(err).NotTo(HaveOccurred())
	for name, in := range map[string]string{"PHC": importedPHC, "passlib": importedPassl} {
		out, err := ParseImportHash(in)
		g.Expect(err).NotTo(HaveOccurred(), name)
		g.Expect(out).To(Equal(importedPHC), name+": stored as keyward writes hashes")
		g.Expect(Verify(k, out)).To(BeTrue(), name+": the hash of another implementation verifies")
	}
	other, _ := Generate(k.ID())
	g.Expect(Verify(other, importedPHC)).To(BeFalse())
}

func TestParseImportHashRefusals(t *testing.T) {
	salt16 := "yMnKy8zNzs/Q0dLT1NXW1w"
	digest := "PMpEOhd2OuQsd33bYhN+3V9B7oaurW01dY1jehRSJ+I"
	cases := map[string]struct{ in, err string }{
		"bcrypt":         {"$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", "the hash is bcrypt; only PBKDF2-HMAC-SHA256 in PHC form"},
		"argon2id":       {"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g", "the hash is argon2id"},
		"scrypt":         {"$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA", "the hash is scrypt"},
		"sha256 hex":     {strings.Repeat("ab", 32), "bare SHA-256 hex digest"},
		"passlib sha1":   {"$pbkdf2$29000$" + salt16 + "$" + digest, "PBKDF2-HMAC-SHA1"},
		"pbkdf2-sha512":  {"$pbkdf2-sha512$i=29000$" + salt16 + "$" + digest, "PBKDF2-HMAC-SHA512"},
		"django":         {"pbkdf2_sha256$600000$abc$" + digest, "Django"},
		"empty":          {"", "the hash is empty"},
		"unknown scheme": {"$foo$bar", `of scheme "foo"`},
		"wrong fields":   {"$pbkdf2-sha256$i=29000$" + salt16, "wrong number of fields"},
		"one iteration":  {"$pbkdf2-sha256$i=1$" + salt16 + "$" + digest, "has 1 PBKDF2 iterations; an imported hash needs between 10000 and 1000000"},
		"too many":       {"$pbkdf2-sha256$i=10000001$" + salt16 + "$" + digest, "needs between"},
		// Within what the verifier accepts for hashes keyward writes, but
		// enough, from a tenant, to hold the shared hashing slots.
		"too many to verify for every tenant": {"$pbkdf2-sha256$i=10000000$" + salt16 + "$" + digest, "needs between 10000 and 1000000"},
		"leading zero":                        {"$pbkdf2-sha256$i=029000$" + salt16 + "$" + digest, "not a decimal number"},
		"not a number":                        {"$pbkdf2-sha256$i=lots$" + salt16 + "$" + digest, "not a decimal number"},
		"4-byte salt":                         {"$pbkdf2-sha256$i=29000$AAECAw$" + digest, "salt is 4 bytes; an imported hash needs at least 16"},
		"padded salt":                         {"$pbkdf2-sha256$i=29000$" + salt16 + "==$" + digest, "salt is not base64"},
		"short digest":                        {"$pbkdf2-sha256$i=29000$" + salt16 + "$AAECAw", "digest is 4 bytes; PBKDF2-HMAC-SHA256 gives 32"},
		"digest not b64":                      {"$pbkdf2-sha256$i=29000$" + salt16 + "$%%%", "digest is not base64"},
		"passlib 1 round":                     {"$pbkdf2-sha256$1$" + salt16 + "$" + digest, "has 1 PBKDF2 iterations"},
		"passlib bad salt":                    {"$pbkdf2-sha256$29000$AAECAw$" + digest, "salt is 4 bytes"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := ParseImportHash(c.in)
			g.Expect(err).To(MatchError(ContainSubstring(c.err)))
			if len(c.in) > 8 {
				g.Expect(err.Error()).NotTo(ContainSubstring(c.in), "the error never repeats the hash")
			}
		})
	}
}

func FuzzParseImportHash(f *testing.F) {
	for _, s := range []string{importedPHC, importedPassl, "$2b$12$x", "$pbkdf2-sha256$i=1$$", "$x$y$z", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ParseImportHash(s)
		if err != nil {
			// Short inputs and pieces of the fixed advice may occur by chance.
			if len(s) > 16 && !strings.Contains(ImportFormats, s) && strings.Contains(err.Error(), s) {
				t.Fatalf("error repeats its input: %v", err)
			}
			return
		}
		p, err := ParseHash(out)
		if err != nil {
			t.Fatalf("accepted %q as %q, which the verifier cannot read: %v", s, out, err)
		}
		if p.Iterations < MinImportIterations || len(p.salt) < SaltLength || len(p.hash) != HashLength {
			t.Fatalf("accepted %q with parameters out of bounds", s)
		}
		again, err := ParseImportHash(out)
		if err != nil || again != out {
			t.Fatalf("normal form %q does not parse to itself: %q, %v", out, again, err)
		}
	})
}
