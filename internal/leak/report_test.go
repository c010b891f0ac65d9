package leak

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func validReport() Report {
	sum := sha256.Sum256([]byte("a token"))
	return Report{
		KeyID: "aaaaaaaaaaaaaaaa", Serial: "1", TokenSHA256: hex.EncodeToString(sum[:]),
		URL: "https://github.com/acme/app/blob/abc/config.env", Source: "content", Type: "keyward_api_key",
		ReportedAt: time.Date(2026, 12, 6, 18, 0, 0, 123, time.UTC),
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	g := NewWithT(t)
	b, err := Encode(validReport())
	g.Expect(err).NotTo(HaveOccurred())
	got, err := Decode(b)
	g.Expect(err).NotTo(HaveOccurred())
	want := validReport()
	want.ReportedAt = want.ReportedAt.Truncate(time.Second)
	g.Expect(got).To(Equal(want))
}

func TestDecodeRefusesWhatACorrectVerifierDoesNotWrite(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*Report)
		want string
	}{
		"bad key ID":      {func(r *Report) { r.KeyID = "short" }, "keyID"},
		"no serial":       {func(r *Report) { r.Serial = "" }, "serial"},
		"plaintext token": {func(r *Report) { r.TokenSHA256 = "keyward_aaaaaaaaaaaaaaaa_secret" }, "tokenSHA256"},
		"javascript url":  {func(r *Report) { r.URL = "javascript:alert(1)" }, "not an absolute http(s) URL"},
		"long url":        {func(r *Report) { r.URL = "https://x/" + strings.Repeat("a", MaxURLLength) }, "longer than"},
		"long source":     {func(r *Report) { r.Source = strings.Repeat("s", 65) }, "source or type"},
		"no time":         {func(r *Report) { r.ReportedAt = time.Time{} }, "reportedAt"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r := validReport()
			tc.edit(&r)
			_, err := Encode(r)
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
			_, err = Decode(mustJSON(r))
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

func TestDecodeRefusesUnknownFields(t *testing.T) {
	g := NewWithT(t)
	b, err := Encode(validReport())
	g.Expect(err).NotTo(HaveOccurred())
	_, err = Decode([]byte(strings.Replace(string(b), "{", `{"token":"x",`, 1)))
	g.Expect(err).To(MatchError(ContainSubstring("unknown field")))
}

func mustJSON(r Report) []byte {
	b, _ := json.Marshal(r)
	return b
}
