package access

import (
	"errors"
	"net/netip"
	"testing"

	. "github.com/onsi/gomega"
)

func TestParseClasses(t *testing.T) {
	cases := map[string]struct {
		in   map[string][]string
		want []string // problems, in order; nil when valid
	}{
		"none":        {nil, nil},
		"valid":       {map[string][]string{"corp": {"10.0.0.0/8", "2001:db8::/32"}, "vpn-1": {"::ffff:172.16.0.0/108"}}, nil},
		"bad CIDRs":   {map[string][]string{"corp": {"10.0.0.0/8", "10.0.0.0"}, "vpn": {"x"}}, []string{`corp[1]: "10.0.0.0" is not a network`, `vpn[0]: "x" is not a network`}},
		"bad names":   {map[string][]string{"Corp": {"10.0.0.0/8"}, "a_b": {"10.0.0.0/8"}}, []string{`Corp: network class name "Corp" is not a DNS label`, `a_b: network class name "a_b"`}},
		"empty class": {map[string][]string{"lab": {}}, []string{"lab: a network class needs at least one CIDR"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			c, err := ParseClasses(tc.in)
			if tc.want == nil {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(c.Names()).To(HaveLen(len(tc.in)))
				return
			}
			var ps Problems
			g.Expect(errors.As(err, &ps)).To(BeTrue(), "%v", err)
			g.Expect(ps).To(HaveLen(len(tc.want)), "%v", err)
			for i, w := range tc.want {
				g.Expect(ps[i].String()).To(HavePrefix(w))
			}
		})
	}
}

func TestClassesIn(t *testing.T) {
	c := mustClasses(map[string][]string{
		"corp": {"10.0.0.0/8", "2001:db8::/32"},
		"lab":  {"::ffff:192.0.2.0/120"},
	})
	cases := map[string]struct {
		addr  netip.Addr
		class string
		want  bool
	}{
		"IPv4 in":              {addr("10.1.2.3"), "corp", true},
		"IPv4 out":             {addr("11.1.2.3"), "corp", false},
		"IPv4-mapped":          {addr("::ffff:10.1.2.3"), "corp", true},
		"IPv6 in":              {addr("2001:db8::1"), "corp", true},
		"IPv6 out":             {addr("2001:db9::1"), "corp", false},
		"mapped class, IPv4":   {addr("192.0.2.9"), "lab", true},
		"mapped class, mapped": {addr("::ffff:192.0.2.9"), "lab", true},
		"unknown class":        {addr("10.1.2.3"), "vpn", false},
		"no address":           {netip.Addr{}, "corp", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(c.In(tc.addr, tc.class)).To(Equal(tc.want))
		})
	}
}

func TestZeroClassesHaveNoClasses(t *testing.T) {
	g := NewWithT(t)
	var c Classes
	g.Expect(c.Names()).To(BeEmpty())
	g.Expect(c.In(addr("10.1.2.3"), "corp")).To(BeFalse())
}
