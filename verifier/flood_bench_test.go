package verifier

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
)

// The verifier's own share of each flood's request, without the network,
// with the audit trail on (counting denials) as in production: make bench
// measures the random-key and wrong-secret floods end to end.

func BenchmarkFloodUnknownKey(b *testing.B) {
	benchFlood(b, func(*issued) string { return "Bearer " + mustGenerateB(b, "").Plaintext() }, ReasonUnknownKey)
}

func BenchmarkFloodBadChecksum(b *testing.B) {
	benchFlood(b, func(*issued) string { return "Bearer " + badChecksum(mustGenerateB(b, "").Plaintext()) }, ReasonMalformedCredential)
}

func BenchmarkFloodNoCredential(b *testing.B) {
	benchFlood(b, func(*issued) string { return "" }, ReasonMissingCredential)
}

// BenchmarkFloodWrongSecret is wrong secrets of a valid key ID from one
// client in backoff: what each costs once the free failures are spent.
func BenchmarkFloodWrongSecret(b *testing.B) {
	benchFlood(b, func(k *issued) string { return "Bearer " + mustGenerateB(b, k.key.ID()).Plaintext() }, ReasonTooManyFailures)
}

func mustGenerateB(b *testing.B, id string) keys.Key {
	k, err := keys.Generate(id)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// benchFlood measures one request of a flood, its credential drawn before
// the timer starts; the first requests run before it, so that backoff is
// in force where it applies.
func benchFlood(b *testing.B, credential func(*issued) string, want Reason) {
	f := newFixture(&testing.T{}, Options{Audit: AccessLog{W: audit.NewWriter(io.Discard)}})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	h, err := newTestHandler(f.v, Config{})
	if err != nil {
		b.Fatal(err)
	}
	const pool = 1024
	reqs := make([]*http.Request, pool)
	for i := range reqs {
		r := httptest.NewRequest(http.MethodGet, EnvoyPrefix+"/acme/payments/investigations/INV-7", nil)
		if c := credential(k); c != "" {
			r.Header.Set("Authorization", c)
		}
		r.Header.Set("X-Forwarded-For", "192.0.2.66")
		reqs[i] = r
	}
	w := &discardWriter{h: http.Header{}}
	for _, r := range reqs[:8] {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, reqs[i%pool])
		i++
	}
	b.StopTimer()
	if w.code < 400 {
		b.Fatalf("status %d: the flood was not refused", w.code)
	}
	if got := f.v.HashesRun(); want != ReasonTooManyFailures && got != 0 {
		b.Fatalf("%d PBKDF2 hashes for a flood that needs none", got)
	}
}
