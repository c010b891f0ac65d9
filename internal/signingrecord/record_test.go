package signingrecord

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func issuerRecord(t *testing.T) Record {
	t.Helper()
	key, err := GenerateKey("ES256", 0)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := KID(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := PublicJWKJSON(kid, "ES256", key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return Record{Schema: Schema, KID: kid, Mode: Issuer, Algorithm: "ES256", PublicJWK: jwk,
		PublishAt: t0, SignFrom: t0.Add(10 * time.Minute), TokenLifetime: 5 * time.Minute, PublishAhead: 10 * time.Minute, Version: 1}
}

func TestValidateNamesWhatIsWrong(t *testing.T) {
	tests := map[string]struct {
		change func(*Record)
		want   string
	}{
		"schema":                 {func(r *Record) { r.Schema = "v0" }, "schema"},
		"no kid":                 {func(r *Record) { r.KID = "" }, "kid is empty"},
		"alg differs from key":   {func(r *Record) { r.Algorithm = "RS256" }, "the record says RS256"},
		"signs before published": {func(r *Record) { r.SignFrom = t0.Add(-time.Second) }, "signFrom not before it"},
		"no token lifetime":      {func(r *Record) { r.TokenLifetime = 0 }, "tokenLifetime"},
		"no publish-ahead":       {func(r *Record) { r.PublishAhead = 0 }, "publishAhead"},
		"withdrawn too early": {func(r *Record) {
			until, w := t0.Add(time.Hour), t0.Add(time.Hour+time.Minute)
			r.SignUntil, r.WithdrawAt = &until, &w
		}, "withdrawAt must not come before"},
		"client without key ID": {func(r *Record) { r.Mode = Client }, "a client key needs keyID, owner and apiKeyUID"},
		"unknown mode":          {func(r *Record) { r.Mode = "other" }, "unknown mode"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r := issuerRecord(t)
			tc.change(&r)
			g.Expect(r.Validate()).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

func TestTimeline(t *testing.T) {
	g := NewWithT(t)
	r := issuerRecord(t)
	until, withdraw := t0.Add(time.Hour), t0.Add(time.Hour+6*time.Minute)
	r.SignUntil, r.WithdrawAt = &until, &withdraw
	g.Expect(r.Validate()).To(Succeed())
	for _, tc := range []struct {
		at               time.Time
		published, signs bool
	}{
		{t0.Add(-time.Second), false, false},
		{t0, true, false},
		{r.SignFrom, true, true},
		{until.Add(-time.Second), true, true},
		{until, true, false},
		{withdraw.Add(-time.Second), true, false},
		{withdraw, false, false},
	} {
		g.Expect(r.Published(tc.at)).To(Equal(tc.published), "published at %s", tc.at)
		g.Expect(r.Signs(tc.at)).To(Equal(tc.signs), "signs at %s", tc.at)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	g := NewWithT(t)
	r := issuerRecord(t)
	b, err := Encode(r)
	g.Expect(err).NotTo(HaveOccurred())
	back, err := Decode(b)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(SameContent(r, back)).To(BeTrue())
	_, err = Decode([]byte(strings.Replace(string(b), `"kid"`, `"kid":"x","extra"`, 1)))
	g.Expect(err).To(HaveOccurred())
}

func TestKIDIsStableAndUsableAsAName(t *testing.T) {
	g := NewWithT(t)
	key, err := GenerateKey("RS256", 2048)
	g.Expect(err).NotTo(HaveOccurred())
	a, _ := KID(key.Public())
	b, _ := KID(key.Public())
	g.Expect(a).To(Equal(b))
	g.Expect(a).To(MatchRegexp(`^[a-z2-7]{26}$`))
	_, err = GenerateKey("RS256", 1024)
	g.Expect(err).To(MatchError(ContainSubstring("at least 2048")))
	_, err = GenerateKey("HS256", 0)
	g.Expect(err).To(MatchError(ContainSubstring("not RS256 or ES256")))
}

func TestPrivateKeyRoundTripNeverQuotesInput(t *testing.T) {
	g := NewWithT(t)
	key, _ := GenerateKey("ES256", 0)
	pemBytes, err := EncodePrivateKey(key)
	g.Expect(err).NotTo(HaveOccurred())
	back, err := DecodePrivateKey(pemBytes)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(back.Public()).To(Equal(key.Public()))
	broken := strings.Replace(string(pemBytes), "A", "B", 3)
	_, err = DecodePrivateKey([]byte(broken))
	if err != nil {
		g.Expect(err.Error()).NotTo(ContainSubstring(strings.Split(broken, "\n")[1][:16]))
	}
}

// A private key's DER is overwritten once it is encoded, and once it is
// parsed; the PEM a caller hands in (a cached Secret's data) is not
// touched, and a decoded key still signs.
func TestPrivateKeyBuffersAreOverwritten(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			g := NewWithT(t)
			key, err := GenerateKey(alg, 2048)
			g.Expect(err).NotTo(HaveOccurred())
			der, err := x509.MarshalPKCS8PrivateKey(key)
			g.Expect(err).NotTo(HaveOccurred())
			kept := slices.Clone(der)
			pemBytes := encodeAndClear("PRIVATE KEY", der)
			g.Expect(der).To(Equal(make([]byte, len(der))), "the DER is overwritten")
			block, _ := pem.Decode(pemBytes)
			g.Expect(block.Bytes).To(Equal(kept), "the PEM holds what the DER held")

			cached := slices.Clone(pemBytes)
			back, err := DecodePrivateKey(cached)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cached).To(Equal(pemBytes), "the input is left alone")
			digest := sha256.Sum256([]byte("payload"))
			sig, err := back.Sign(rand.Reader, digest[:], crypto.SHA256)
			g.Expect(err).NotTo(HaveOccurred())
			switch pub := key.Public().(type) {
			case *ecdsa.PublicKey:
				g.Expect(ecdsa.VerifyASN1(pub, digest[:], sig)).To(BeTrue())
			case *rsa.PublicKey:
				g.Expect(rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)).To(Succeed())
			}
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(ec.Public())
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwk, _ := PublicJWKJSON("x", "RS256", rsaKey.Public())
	var privJWK map[string]any
	_ = json.Unmarshal(jwk, &privJWK)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(p384.Public())
	tests := map[string]struct {
		in      string
		alg     string
		wantErr string
	}{
		"EC PEM":     {string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})), "ES256", ""},
		"RSA JWK":    {string(jwk), "RS256", ""},
		"P-384":      {string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p384DER})), "", "P-256"},
		"private":    {string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})), "", `not "PUBLIC KEY"`},
		"not a key":  {"hello", "", "neither"},
		"broken PEM": {string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2}})), "", "PKIX"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			kid, alg, out, err := ParsePublicKey(tc.in)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(alg).To(Equal(tc.alg))
			g.Expect(kid).NotTo(BeEmpty())
			g.Expect(string(out)).NotTo(ContainSubstring(`"d"`))
		})
	}
}

// An enrolled RSA key with exponent 3, which Go's module refuses at every
// verification under fips140=only, is refused at enrolment in FIPS mode,
// saying why; outside FIPS mode it is enrolled (make test runs this
// package both ways).
func TestParsePublicKeyInFIPSModeRefusesExponent3(t *testing.T) {
	g := NewWithT(t)
	n := new(big.Int).Lsh(big.NewInt(1), 2047)
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n.Add(n, big.NewInt(1)), E: 3})
	g.Expect(err).NotTo(HaveOccurred())
	_, alg, _, err := ParsePublicKey(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	if fips140.Enabled() {
		g.Expect(err).To(MatchError("an RSA key with public exponent 3; FIPS mode needs an odd exponent above 65536 (usually 65537)"))
		return
	}
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(alg).To(Equal("RS256"))
}

// FuzzDecode: nothing panics, and whatever decodes validates.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"schema":"keyward.dev/signing-key/v1","kid":"a","mode":"client","alg":"ES256","publicJWK":{},"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err == nil {
			if err := r.Validate(); err != nil {
				t.Fatalf("decoded but invalid: %v", err)
			}
		}
	})
}
