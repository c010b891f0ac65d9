package scope

import (
	"math/rand/v2"
	"testing"

	. "github.com/onsi/gomega"
)

func res(org, project, typ, id string) Resource { return Resource{org, project, typ, id} }

func TestScopeAllows(t *testing.T) {
	for _, tc := range []struct {
		scope string
		r     Resource
		a     Action
		want  bool
	}{
		{"acme/pay/inv:read", res("acme", "pay", "inv", ""), Read, true},
		{"acme/pay/inv:read", res("acme", "pay", "inv", "42"), Read, true},
		{"acme/pay/inv:read", res("acme", "pay", "inv", "42"), Write, false},
		{"acme/pay/inv:read", res("acme", "pay", "ev", "42"), Read, false},
		{"acme/pay/inv:read", res("acme", "hr", "inv", "42"), Read, false},
		{"acme/pay/inv:read", res("evil", "pay", "inv", "42"), Read, false},
		{"acme/pay/inv:read", res("Acme", "pay", "inv", ""), Read, false},
		{"acme/pay/inv:read", res("acme", "pay", "inv", ""), 0, false},
		{"acme/pay/inv:read", res("acme", "pay", "inv", ""), Action(9), false},

		// admin implies every action, and nothing implies admin
		{"acme/pay/inv:admin", res("acme", "pay", "inv", "1"), Read, true},
		{"acme/pay/inv:admin", res("acme", "pay", "inv", "1"), Write, true},
		{"acme/pay/inv:admin", res("acme", "pay", "inv", "1"), Delete, true},
		{"acme/pay/inv:admin", res("acme", "pay", "inv", "1"), Execute, true},
		{"acme/pay/inv:admin", res("acme", "pay", "inv", "1"), Admin, true},
		{"acme/pay/inv:write", res("acme", "pay", "inv", "1"), Admin, false},
		{"acme/pay/inv:write", res("acme", "pay", "inv", "1"), Delete, false},
		{"acme/pay/inv:execute", res("acme", "pay", "inv", "1"), Execute, true},
		{"acme/pay/inv:admin", res("acme", "pay", "inv", "1"), 0, false},

		// "*" at every level matches any non-empty value
		{"*/pay/inv:read", res("other", "pay", "inv", ""), Read, true},
		{"*/pay/inv:read", res("", "pay", "inv", ""), Read, false},
		{"*/pay/inv:read", res("other", "hr", "inv", ""), Read, false},
		{"acme/*/inv:read", res("acme", "hr", "inv", ""), Read, true},
		{"acme/*/inv:read", res("acme", "", "inv", ""), Read, false},
		{"acme/*/inv:read", res("other", "hr", "inv", ""), Read, false},
		{"acme/pay/*:read", res("acme", "pay", "users", "u1"), Read, true},
		{"acme/pay/*:read", res("acme", "pay", "", "u1"), Read, false},
		{"*/*/*:admin", res("a", "b", "c", "d"), Delete, true},
		{"*/*/*:admin", res("a", "b", "c", ""), Admin, true},
		{"*/*/*:admin", res("a", "", "c", ""), Admin, false},
		{"*/*/*/42:read", res("a", "b", "c", "42"), Read, true},
		{"*/*/*/42:read", res("a", "b", "c", "43"), Read, false},

		// id vs no id
		{"acme/pay/inv/42:read", res("acme", "pay", "inv", "42"), Read, true},
		{"acme/pay/inv/42:read", res("acme", "pay", "inv", "43"), Read, false},
		{"acme/pay/inv/42:read", res("acme", "pay", "inv", ""), Read, false},
		{"acme/pay/inv/42:read", res("acme", "pay", "inv", "420"), Read, false},
		{"acme/pay/inv/Ab:read", res("acme", "pay", "inv", "ab"), Read, false},
		{"acme/pay/inv/*:read", res("acme", "pay", "inv", ""), Read, true},
		{"acme/pay/inv/*:read", res("acme", "pay", "inv", "x"), Read, true},
	} {
		t.Run(tc.scope+" "+tc.a.String(), func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(MustParse(tc.scope).Allows(tc.r, tc.a)).To(Equal(tc.want), "%+v", tc.r)
		})
	}
}

func TestScopeCovers(t *testing.T) {
	for _, tc := range []struct {
		s, o string
		want bool
	}{
		{"acme/pay/inv:read", "acme/pay/inv:read", true},
		{"acme/pay/inv:read", "acme/pay/inv/42:read", true},
		{"acme/pay/inv/42:read", "acme/pay/inv:read", false},
		{"acme/pay/inv/42:read", "acme/pay/inv/42:read", true},
		{"acme/pay/inv/42:read", "acme/pay/inv/43:read", false},
		{"acme/pay/inv/*:read", "acme/pay/inv/42:read", true},
		{"acme/pay/inv/42:read", "acme/pay/inv/*:read", false},

		// admin covers every action; nothing else covers admin
		{"acme/pay/inv:admin", "acme/pay/inv:read", true},
		{"acme/pay/inv:admin", "acme/pay/inv:execute", true},
		{"acme/pay/inv:admin", "acme/pay/inv:admin", true},
		{"acme/pay/inv:write", "acme/pay/inv:admin", false},
		{"acme/pay/inv:read", "acme/pay/inv:write", false},

		// "*" is covered only by "*", at every level
		{"*/pay/inv:read", "acme/pay/inv:read", true},
		{"acme/pay/inv:read", "*/pay/inv:read", false},
		{"acme/*/inv:read", "acme/pay/inv:read", true},
		{"acme/pay/inv:read", "acme/*/inv:read", false},
		{"acme/pay/*:read", "acme/pay/inv:read", true},
		{"acme/pay/inv:read", "acme/pay/*:read", false},
		{"*/*/*:admin", "*/*/*:admin", true},
		{"*/*/*:admin", "acme/pay/inv/42:delete", true},
		{"*/*/*:read", "*/*/*:admin", false},
		{"*/*/*/42:admin", "*/*/*:read", false},

		{"acme/pay/inv:admin", "acme/hr/inv:read", false},
		{"acme/pay/inv:admin", "other/pay/inv:read", false},
		{"acme/pay/inv:admin", "acme/pay/ev:read", false},
	} {
		t.Run(tc.s+" covers "+tc.o, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(MustParse(tc.s).Covers(MustParse(tc.o))).To(Equal(tc.want))
		})
	}
}

// Universe for the exactness properties. Scopes use values a, b, p, q, t, u,
// x, y; probes also use z, which no scope names, standing in for "any other
// value" so that "*" in a scope is distinguishable from a list of values.
var (
	uOrgs     = []string{"*", "a", "b"}
	uProjects = []string{"*", "p", "q"}
	uTypes    = []string{"*", "t", "u"}
	uIDs      = []string{"", "/*", "/x", "/y"}
	uActions  = []string{"read", "write", "delete", "execute", "admin"}

	pOrgs     = []string{"", "a", "b", "z"}
	pProjects = []string{"p", "q", "z"}
	pTypes    = []string{"t", "u", "z"}
	pIDs      = []string{"", "x", "y", "z"}
	pActions  = []Action{Read, Write, Delete, Execute, Admin}
)

type probe struct {
	r Resource
	a Action
}

// bits is the set of probes a scope allows, as a bitmap indexed like probes.
type bits []uint64

func (b bits) subsetOf(c bits) bool {
	for i := range b {
		if b[i]&^c[i] != 0 {
			return false
		}
	}
	return true
}

func (b bits) or(c bits) bits {
	out := make(bits, len(b))
	for i := range b {
		out[i] = b[i] | c[i]
	}
	return out
}

func universe() (scopes []Scope, allowed []bits) {
	var probes []probe
	for _, o := range pOrgs {
		for _, p := range pProjects {
			for _, t := range pTypes {
				for _, id := range pIDs {
					for _, a := range pActions {
						probes = append(probes, probe{Resource{o, p, t, id}, a})
					}
				}
			}
		}
	}
	for _, o := range uOrgs {
		for _, p := range uProjects {
			for _, t := range uTypes {
				for _, id := range uIDs {
					for _, a := range uActions {
						s := MustParse(o + "/" + p + "/" + t + id + ":" + a)
						b := make(bits, (len(probes)+63)/64)
						for i, pr := range probes {
							if s.Allows(pr.r, pr.a) {
								b[i/64] |= 1 << (i % 64)
							}
						}
						scopes = append(scopes, s)
						allowed = append(allowed, b)
					}
				}
			}
		}
	}
	return scopes, allowed
}

// TestCoversIsExact proves Covers agrees with Allows: s covers o exactly when
// everything o allows in the probe universe, s allows too. The universe is
// small enough to check every pair.
func TestCoversIsExact(t *testing.T) {
	g := NewWithT(t)
	scopes, allowed := universe()
	var yes, no int
	for i, s := range scopes {
		for j, o := range scopes {
			want := allowed[j].subsetOf(allowed[i])
			if s.Covers(o) != want {
				g.Expect(s.Covers(o)).To(Equal(want), "%s covers %s", s, o)
			}
			if want {
				yes++
			} else {
				no++
			}
		}
	}
	g.Expect(yes).To(BeNumerically(">", 1000))
	g.Expect(no).To(BeNumerically(">", 1000))
}

// TestSetCoversIsExact checks the same against the union of a Set, for random
// sets, since Set.Covers only ever compares single scopes.
func TestSetCoversIsExact(t *testing.T) {
	g := NewWithT(t)
	scopes, allowed := universe()
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(max int) (Set, bits) {
		var set Set
		union := make(bits, len(allowed[0]))
		for range rng.IntN(max + 1) {
			i := rng.IntN(len(scopes))
			set = append(set, scopes[i])
			union = union.or(allowed[i])
		}
		return set, union
	}
	var yes, no int
	for range 20000 {
		set, setBits := pick(4)
		o, oBits := pick(3)
		want := oBits.subsetOf(setBits)
		if set.Covers(o) != want {
			g.Expect(set.Covers(o)).To(Equal(want), "%v covers %v", set.Strings(), o.Strings())
		}
		if want {
			yes++
		} else {
			no++
		}
	}
	g.Expect(yes).To(BeNumerically(">", 1000))
	g.Expect(no).To(BeNumerically(">", 1000))
}
