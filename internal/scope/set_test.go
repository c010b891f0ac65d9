package scope

import (
	"errors"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestParseSet(t *testing.T) {
	g := NewWithT(t)

	set, err := ParseSet([]string{"acme/p/t:read", "acme/p/t/*:write"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(set.Strings()).To(Equal([]string{"acme/p/t:read", "acme/p/t:write"}))

	set, err = ParseSet(nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(set).To(BeEmpty())

	set, err = ParseSet([]string{"acme/p/t:read", "acme/x:read", "acme/p/t:ok", "Acme/p/t:read"})
	g.Expect(set).To(BeNil())
	g.Expect(err).To(HaveOccurred())
	lines := strings.Split(err.Error(), "\n")
	g.Expect(lines).To(HaveLen(3))
	g.Expect(lines[0]).To(Equal(`scopes[1]: scope "acme/x:read": expected <org>/<project>/<type>[/<id>]:<action>`))
	g.Expect(lines[1]).To(HavePrefix(`scopes[2]: scope "acme/p/t:ok": unknown action "ok"`))
	g.Expect(lines[2]).To(HavePrefix(`scopes[3]: scope "Acme/p/t:read": org "Acme" must be lowercase`))
	var pe *ParseError
	g.Expect(errors.As(err, &pe)).To(BeTrue())
}

func TestSetAllows(t *testing.T) {
	set := Set{
		MustParse("acme/pay/inv/42:read"),
		MustParse("acme/pay/inv:write"),
		MustParse("acme/*/ev:admin"),
	}
	for _, tc := range []struct {
		r       Resource
		a       Action
		matched string
	}{
		{res("acme", "pay", "inv", "42"), Read, "acme/pay/inv/42:read"},
		{res("acme", "pay", "inv", "42"), Write, "acme/pay/inv:write"},
		{res("acme", "pay", "inv", "43"), Read, ""},
		{res("acme", "pay", "inv", ""), Write, "acme/pay/inv:write"},
		{res("acme", "hr", "ev", "1"), Delete, "acme/*/ev:admin"},
		{res("other", "hr", "ev", "1"), Delete, ""},
	} {
		t.Run(tc.matched, func(t *testing.T) {
			g := NewWithT(t)
			s, ok := set.Allows(tc.r, tc.a)
			g.Expect(ok).To(Equal(tc.matched != ""))
			g.Expect(s.String()).To(Equal(tc.matched))
		})
	}
	g := NewWithT(t)
	_, ok := Set(nil).Allows(res("a", "b", "c", ""), Read)
	g.Expect(ok).To(BeFalse())
}

func TestSetCovers(t *testing.T) {
	must := func(ss ...string) Set {
		set, err := ParseSet(ss)
		if err != nil {
			panic(err)
		}
		return set
	}
	for _, tc := range []struct {
		name string
		set  Set
		o    Set
		want bool
	}{
		{"empty covers empty", nil, nil, true},
		{"anything covers empty", must("a/p/t:read"), nil, true},
		{"empty covers nothing", nil, must("a/p/t:read"), false},
		{"each by a different scope", must("a/p/t:read", "a/p/u:admin"), must("a/p/u/1:delete", "a/p/t/9:read"), true},
		{"one uncovered", must("a/p/t:read", "a/p/u:admin"), must("a/p/t:read", "a/q/t:read"), false},
		{"listed values never cover a wildcard", must("a/p/t:read", "a/q/t:read"), must("a/*/t:read"), false},
		{"ids never cover the collection", must("a/p/t/1:read", "a/p/t/2:read"), must("a/p/t:read"), false},
		{"all actions but admin do not cover admin", must("a/p/t:read", "a/p/t:write", "a/p/t:delete", "a/p/t:execute"), must("a/p/t:admin"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(tc.set.Covers(tc.o)).To(Equal(tc.want))
		})
	}
}

// Set.Allows runs on every request; it must stay allocation-free.
func TestSetAllowsDoesNotAllocate(t *testing.T) {
	g := NewWithT(t)
	set, r := benchSet()
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := set.Allows(r, Write); !ok {
			panic("no match")
		}
		if _, ok := set.Allows(Resource{"x", "y", "z", ""}, Read); ok {
			panic("unexpected match")
		}
	})
	g.Expect(allocs).To(BeZero())
}
