package analytics

import (
	"encoding/binary"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func FuzzMinuteValidate(f *testing.F) {
	f.Add(monday.Unix(), uint32(10), uint32(2), uint32(1), "scope", uint32(3), "DE", uint32(5), "192.0.2.0/24", uint32(5))
	f.Add(int64(0), uint32(0), uint32(0), uint32(0), "", uint32(0), "", uint32(0), "", uint32(0))
	f.Add(monday.Unix()+7, ^uint32(0), ^uint32(0), ^uint32(0), "Bad-Reason", ^uint32(0), "de", uint32(1), "2001:db8::/32", uint32(1))
	f.Add(monday.Unix(), uint32(1), uint32(0), uint32(0), "invalid_secret", uint32(0), "ZZ", uint32(1), "2001:db8:1::/48", uint32(1))
	f.Fuzz(func(t *testing.T, start int64, permits, verified, unverified uint32, reason string, reasonN uint32, country string, countryN uint32, network string, networkN uint32) {
		m := Minute{Start: time.Unix(start, 0).UTC(), Permits: permits, VerifiedDenials: verified, UnverifiedDenials: unverified,
			Denials:   map[string]uint32{reason: reasonN},
			Countries: []Count{{Value: country, N: countryN}},
			Networks:  []Count{{Value: network, N: networkN}}}
		if m.Validate() != nil {
			return
		}
		s := NewStore(DefaultParams(), 2)
		s.Commit("k", m)
		s.Commit("k", m)
		s.Tick(m.Start.Add(7 * time.Hour))
		sum, ok := s.Summary("k", m.Start.Add(time.Minute))
		if ok && sum.Hour.Requests != m.Requests() {
			t.Fatalf("a valid minute counted %d requests, the summary %d", m.Requests(), sum.Hour.Requests)
		}
	})
}

// fuzzCountries mixes neighbours, far countries and codes without a centroid.
var fuzzCountries = []string{"DE", "FR", "BR", "JP", "US", "ZZ", "QQ", "AU", "NZ", "XK"}

// FuzzStoreCommit replays arbitrary minute sequences of a few keys (eight
// bytes a minute) against a store of at most three keys.
func FuzzStoreCommit(f *testing.F) {
	f.Add([]byte{0, 1, 0, 10, 0, 0, 0, 0, 1, 1, 0, 200, 9, 9, 1, 2})
	f.Add([]byte{2, 255, 255, 255, 255, 255, 255, 255, 3, 0, 0, 0, 0, 200, 7, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		g := NewWithT(t)
		const maxKeys = 3
		s := NewStore(DefaultParams(), maxKeys)
		keys := []string{"a", "b", "c", "d", "e"}
		at := monday
		for len(data) >= 8 {
			op := data[:8]
			data = data[8:]
			at = at.Add(time.Duration(binary.BigEndian.Uint16(op[1:3])) * time.Minute)
			permits := uint32(op[3]) * uint32(op[3])
			m := Minute{Start: at, Permits: permits, VerifiedDenials: uint32(op[4]), UnverifiedDenials: uint32(op[5]) * 16,
				Denials: map[string]uint32{"scope": uint32(op[4]), "invalid_secret": uint32(op[5]) * 16}}
			if verified := permits + uint32(op[4]); verified > 0 {
				m.Countries = []Count{{Value: fuzzCountries[int(op[6])%len(fuzzCountries)], N: verified}}
				m.Networks = []Count{{Value: "10." + string('0'+rune(op[7]%10)) + ".0.0/24", N: verified}}
			}
			key := keys[int(op[0])%len(keys)]
			for _, f := range s.Commit(key, m) {
				g.Expect(f.Message).NotTo(BeEmpty())
			}
			if op[0]&0x80 != 0 {
				s.Tick(at)
			}
			sum, ok := s.Summary(key, at.Add(time.Minute))
			if ok {
				g.Expect(len(sum.TopCountries)).To(BeNumerically("<=", 5))
				g.Expect(len(sum.Hour.TopDenials)).To(BeNumerically("<=", 3))
			}
			g.Expect(s.Len()).To(BeNumerically("<=", maxKeys))
			g.Expect(lruLen(s)).To(Equal(s.Len()))
		}
	})
}

func lruLen(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k := s.lru.next; k != &s.lru; k = k.next {
		n++
	}
	return n
}
