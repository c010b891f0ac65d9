package analytics

import (
	"fmt"
	"net/netip"
	"time"
)

// Bounds of what one Minute carries. They keep a replica's report and a
// verifier's per-key memory small whatever the traffic: a key seen from
// more countries or networks in one minute keeps the most frequent ones
// (MaxCountries, MaxNetworks), counted with a space-saving sketch.
const (
	MaxCountries = 4
	MaxNetworks  = 4
	// MaxReasons bounds Denials: the verifier has fewer reasons than this.
	MaxReasons = 32
)

// Count is how many verified requests one value (a country code, a
// network) accounted for.
type Count struct {
	Value string `json:"v"`
	N     uint32 `json:"n"`
}

// Minute is one key's activity in one minute, as one replica counted it or
// as several replicas' counts summed.
type Minute struct {
	// Start is the minute, UTC, truncated to the minute.
	Start time.Time `json:"t"`
	// Permits counts permitted requests.
	Permits uint32 `json:"p,omitempty"`
	// VerifiedDenials counts denials decided after the credential verified
	// that only what the key's holder asked for causes: a scope, an access
	// condition, a certificate binding. A stolen key probing what it may
	// do makes these.
	VerifiedDenials uint32 `json:"vd,omitempty"`
	// OtherDenials counts denials and Indeterminate answers after the
	// credential verified that the holder's request did not cause by what
	// it asked: rate limits and quotas (which another key of the same
	// owner can drain), a rate-limit store that failed, a secret whose
	// grace period ended, any other Indeterminate. They are the key's use
	// (they carry a location) but never a probe: no detector acts on them.
	OtherDenials uint32 `json:"od,omitempty"`
	// UnverifiedDenials counts denials of requests that named the key
	// without proving its secret (invalid_secret, too_many_failures, a
	// suspended or revoked key…): anyone with the key ID can cause them.
	UnverifiedDenials uint32 `json:"ud,omitempty"`
	// Denials counts every denial by its reason code (all three kinds).
	Denials map[string]uint32 `json:"d,omitempty"`
	// Countries and Networks are where the verified requests came from:
	// ISO 3166-1 alpha-2 codes, and networks as prefixes (IPv4 /24, IPv6
	// /48, see NetworkOf), most frequent first, at most MaxCountries and
	// MaxNetworks.
	Countries []Count `json:"c,omitempty"`
	Networks  []Count `json:"n,omitempty"`
}

// Requests is every request the minute counts.
func (m Minute) Requests() uint64 {
	return m.Verified() + uint64(m.UnverifiedDenials)
}

// Verified is every request whose credential verified: the key's own use.
func (m Minute) Verified() uint64 {
	return uint64(m.Permits) + uint64(m.VerifiedDenials) + uint64(m.OtherDenials)
}

// Validate refuses a Minute no correct verifier writes: reports come from
// another process, and a bad one must not reach any status or baseline.
func (m Minute) Validate() error {
	if m.Start.IsZero() || !m.Start.Equal(m.Start.Truncate(time.Minute)) {
		return fmt.Errorf("minute %v is not a whole minute", m.Start)
	}
	if len(m.Denials) > MaxReasons {
		return fmt.Errorf("minute %v: %d denial reasons exceed %d", m.Start, len(m.Denials), MaxReasons)
	}
	if len(m.Countries) > MaxCountries || len(m.Networks) > MaxNetworks {
		return fmt.Errorf("minute %v: more than %d countries or %d networks", m.Start, MaxCountries, MaxNetworks)
	}
	for _, c := range m.Countries {
		if !ValidCountry(c.Value) {
			return fmt.Errorf("minute %v: %q is not an ISO 3166-1 alpha-2 code", m.Start, c.Value)
		}
	}
	for _, n := range m.Networks {
		p, err := netip.ParsePrefix(n.Value)
		if err != nil || p != NetworkOf(p.Addr()) {
			return fmt.Errorf("minute %v: %q is not a network keyward counts by", m.Start, n.Value)
		}
	}
	var denied uint64
	for reason, n := range m.Denials {
		if !validReason(reason) {
			return fmt.Errorf("minute %v: %q is not a denial reason", m.Start, reason)
		}
		denied += uint64(n)
	}
	// Only verified requests have a location, and every denial one reason.
	verified := m.Verified()
	if n := total(m.Countries); n > verified {
		return fmt.Errorf("minute %v: countries count %d requests, more than its %d verified ones", m.Start, n, verified)
	}
	if n := total(m.Networks); n > verified {
		return fmt.Errorf("minute %v: networks count %d requests, more than its %d verified ones", m.Start, n, verified)
	}
	if all := uint64(m.VerifiedDenials) + uint64(m.OtherDenials) + uint64(m.UnverifiedDenials); denied > all {
		return fmt.Errorf("minute %v: denial reasons count %d denials, more than its %d", m.Start, denied, all)
	}
	return nil
}

func total(counts []Count) uint64 {
	var n uint64
	for _, c := range counts {
		n += uint64(c.N)
	}
	return n
}

// NetworkOf is the network an address is counted in: its /24 for IPv4
// (IPv4-mapped IPv6 included), its /48 for IPv6. Finer would make every
// client of a provider "new"; coarser would hide a move between providers.
func NetworkOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p
}

// ValidCountry reports whether s is two upper-case ASCII letters.
func ValidCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// validReason: reason codes are lower-case snake case, short.
func validReason(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}
