package verifier

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/usage"
)

func TestAReportKeepsTheMostRecentlyUsedKeys(t *testing.T) {
	g := NewWithT(t)
	reset := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	var snapshot []QuotaUsage
	for i := range usage.MaxKeys + 10 {
		snapshot = append(snapshot, QuotaUsage{KeyID: testKeyID(i), Used: int64(i), ResetAt: reset})
	}
	// A repeat and malformed entries would make the manager refuse the
	// whole report; they are dropped without taking a place.
	snapshot = append([]QuotaUsage{
		{KeyID: testKeyID(0), Used: 99, ResetAt: reset},
		{KeyID: "short", ResetAt: reset},
		{KeyID: "zzzzzzzzzzzzzzzz"},
	}, snapshot...)
	entries := bounded(snapshot)
	g.Expect(entries).To(HaveLen(usage.MaxKeys))
	g.Expect(entries).To(HaveKeyWithValue(testKeyID(0), HaveField("Used", int64(99))))
	g.Expect(entries).To(HaveKey(testKeyID(usage.MaxKeys - 1)))
	g.Expect(entries).NotTo(HaveKey(testKeyID(usage.MaxKeys)))
	g.Expect(entries).NotTo(HaveKey("zzzzzzzzzzzzzzzz"))

}

// testKeyID is a valid key ID for every i.
func testKeyID(i int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	id := []byte("aaaaaaaaaaaaaaaa")
	for p := len(id) - 1; i > 0; p-- {
		id[p] = alphabet[i%32]
		i /= 32
	}
	return string(id)
}
