package access

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
)

// MaxNameLength bounds a network class name, as a DNS label.
const MaxNameLength = 63

// Classes are the named network classes of the verifier's configuration,
// such as "corp" or "vpn", each a list of CIDRs. The zero Classes has no
// classes, so no address is in any.
type Classes struct {
	byName map[string][]netip.Prefix
}

// ParseClasses reads classes from configuration: class name to CIDRs.
// Names are DNS labels; every class needs at least one CIDR, since a class
// no address can be in could only ever be asserted, never confirmed.
func ParseClasses(m map[string][]string) (Classes, error) {
	var ps Problems
	c := Classes{byName: make(map[string][]netip.Prefix, len(m))}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if !validName(name) {
			ps.add(name, "network class name %q is not a DNS label: 1 to %d lower-case letters, digits and \"-\", starting and ending with a letter or digit", name, MaxNameLength)
		}
		if len(m[name]) == 0 {
			ps.add(name, "a network class needs at least one CIDR")
		}
		for i, s := range m[name] {
			p, err := parsePrefix(s)
			if err != nil {
				ps.add(fmt.Sprintf("%s[%d]", name, i), "%v", err)
				continue
			}
			c.byName[name] = append(c.byName[name], p)
		}
	}
	if err := ps.err(); err != nil {
		return Classes{}, err
	}
	return c, nil
}

// In reports whether addr lies in the named class. An unknown class or an
// invalid address is in nothing.
func (c Classes) In(addr netip.Addr, name string) bool {
	addr = normalAddr(addr)
	if !addr.IsValid() {
		return false
	}
	for _, p := range c.byName[name] {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Names lists the classes, sorted.
func (c Classes) Names() []string { return slices.Sorted(maps.Keys(c.byName)) }

// validName reports whether s is a DNS label (RFC 1123), the form of class
// names in keys and in configuration.
func validName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9':
		case b == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// parsePrefix reads a CIDR in the form Check compares: masked, and an
// IPv4-mapped IPv6 network as the IPv4 network it maps.
func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a network in CIDR notation, such as 10.0.0.0/8 or 2001:db8::/32", s)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// normalAddr is an address as Check compares it: unmapped, without zone.
func normalAddr(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }
