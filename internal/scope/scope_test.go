package scope

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

var patternRE = regexp.MustCompile(Pattern)

var (
	label63 = strings.Repeat("a", 63)
	id128   = strings.Repeat("I", 128)
	// Exactly MaxLength bytes: three 63-byte labels, a 59-byte id and ":read".
	longest = label63 + "/" + label63 + "/" + label63 + "/" + strings.Repeat("x", 59) + ":read"
	// Grammatical but over MaxLength: only the length limit rejects it.
	tooLong = label63 + "/" + label63 + "/" + label63 + "/" + id128 + ":execute"
)

var validScopes = []struct{ in, canonical string }{
	{"acme/payments/investigations:read", "acme/payments/investigations:read"},
	{"acme/payments/evidence/EV-2024.0042_a:write", "acme/payments/evidence/EV-2024.0042_a:write"},
	{"acme/payments/evidence/*:read", "acme/payments/evidence:read"},
	{"acme/payments/users/42:delete", "acme/payments/users/42:delete"},
	{"acme/payments/jobs/x-:execute", "acme/payments/jobs/x-:execute"},
	{"acme/*/users:admin", "acme/*/users:admin"},
	{"*/payments/users:read", "*/payments/users:read"},
	{"acme/payments/*:read", "acme/payments/*:read"},
	{"*/*/*:admin", "*/*/*:admin"},
	{"*/*/*/*:admin", "*/*/*:admin"},
	{"*/*/*/abc:read", "*/*/*/abc:read"},
	{"0/9/a-b:write", "0/9/a-b:write"},
	{"a--b/p1/t:read", "a--b/p1/t:read"},
	{label63 + "/p/t/" + id128 + ":read", label63 + "/p/t/" + id128 + ":read"},
	{longest, longest},
}

var invalidScopes = []struct{ in, want string }{
	{"", `missing ":<action>"`},
	{"acme/x:read", "expected <org>/<project>/<type>[/<id>]:<action>"},
	{"acme:read", "expected <org>/<project>/<type>[/<id>]:<action>"},
	{"acme/p/t/i/j:read", "expected <org>/<project>/<type>[/<id>]:<action>"},
	{"acme/p/t", `missing ":<action>"`},
	{"acme/p/t:", "missing action"},
	{"acme/p/t:list", `unknown action "list" (want one of read, write, delete, execute, admin)`},
	{"acme/p/t:READ", `unknown action "READ"`},
	{"acme/p/t:read:write", `unknown action "read:write"`},
	{"acme/p/t/a:b:read", `unknown action "b:read"`},
	{"acme/p/t:*", `no "*" action`},
	{"acme/p/t:read\x00", "unknown action"},
	{"Acme/p/t:read", `org "Acme" must be lowercase`},
	{"acme/Payments/t:read", `project "Payments" must be lowercase`},
	{"acme/p/Investigations:read", `type "Investigations" must be lowercase`},
	{"acme/p/inv*:read", `type "inv*" uses "*" inside a segment`},
	{"a*/p/t:read", `org "a*" uses "*" inside a segment`},
	{"**/p/t:read", `org "**" uses "*" inside a segment`},
	{"acme/p/t/ab*:read", `id "ab*" uses "*" inside a segment`},
	{"acme//t:read", `project "" is empty`},
	{"/p/t:read", `org "" is empty`},
	{"acme/p/:read", `type "" is empty`},
	{"acme/p/t/:read", `id "" is empty`},
	{"acme/p/t:read ", "whitespace"},
	{" acme/p/t:read", "whitespace"},
	{"acme/p /t:read", "whitespace"},
	{"acme/p/t:\tread", "whitespace"},
	{"acme/p/t:read\n", "whitespace"},
	{"acme/p/t/a b:read", "whitespace"},
	{"acme/p/t:\u00a0read", "whitespace"},
	{"-acme/p/t:read", `org "-acme" must be "*" or a DNS label`},
	{"acme-/p/t:read", `org "acme-" must be "*" or a DNS label`},
	{"ac_me/p/t:read", `org "ac_me" must be "*" or a DNS label`},
	{"acme/p.q/t:read", `project "p.q" must be "*" or a DNS label`},
	{"acmé/p/t:read", `org "acmé" must be "*" or a DNS label`},
	{label63 + "b/p/t:read", "longer than 63 characters"},
	{"acme/p/t/.hidden:read", `id ".hidden" must be "*" or letters`},
	{"acme/p/t/-x:read", `id "-x" must be "*" or letters`},
	{"acme/p/t/a%2F:read", `id "a%2F" must be "*" or letters`},
	{"acme/p/t/ü:read", `id "ü" must be "*" or letters`},
	{"acme/p/t/" + id128 + "J:read", "longer than 128 characters"},
	{tooLong, "longer than the maximum of 256"},
	{strings.Repeat("a", 10000), "longer than the maximum of 256"},
}

func TestParseValid(t *testing.T) {
	for _, tc := range validScopes {
		t.Run(name(tc.in), func(t *testing.T) {
			g := NewWithT(t)
			s, err := Parse(tc.in)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.String()).To(Equal(tc.canonical))
			g.Expect(MustParse(tc.canonical)).To(Equal(s), "canonical form must parse to the same scope")
			g.Expect(patternRE.MatchString(tc.in)).To(BeTrue(), "Pattern must accept what Parse accepts")
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range invalidScopes {
		t.Run(name(tc.in), func(t *testing.T) {
			g := NewWithT(t)
			s, err := Parse(tc.in)
			g.Expect(err).To(HaveOccurred())
			g.Expect(s).To(BeZero())
			var pe *ParseError
			g.Expect(errors.As(err, &pe)).To(BeTrue())
			g.Expect(pe.Input).To(Equal(tc.in))
			g.Expect(err.Error()).To(HavePrefix("scope "))
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
			g.Expect(len(err.Error())).To(BeNumerically("<", MaxLength+300), "error must not echo a huge input")
			if len(tc.in) <= MaxLength {
				g.Expect(patternRE.MatchString(tc.in)).To(BeFalse(), "Pattern must reject what Parse rejects")
			}
		})
	}
}

func TestParseErrorQuotesInput(t *testing.T) {
	g := NewWithT(t)
	_, err := Parse("acme/x:read")
	g.Expect(err).To(MatchError(`scope "acme/x:read": expected <org>/<project>/<type>[/<id>]:<action>`))
}

// The length limit is the one rule Pattern cannot carry, so CRDs need
// MaxLength as well; this pins that down.
func TestPatternLeavesLengthToMaxLength(t *testing.T) {
	g := NewWithT(t)
	g.Expect(len(tooLong)).To(BeNumerically(">", MaxLength))
	g.Expect(patternRE.MatchString(tooLong)).To(BeTrue())
	g.Expect(len(longest)).To(Equal(MaxLength))
}

// Pattern is pasted into CRD markers and evaluated by non-Go engines, so it
// must avoid backslash escapes and anything beyond the RE2/ECMA-262 overlap.
func TestPatternIsPortable(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Pattern).NotTo(ContainSubstring(`\`))
	g.Expect(Pattern).To(HavePrefix("^"))
	g.Expect(Pattern).To(HaveSuffix("$"))
	g.Expect(Pattern).NotTo(ContainSubstring("(?"))
}

func TestMustParsePanics(t *testing.T) {
	g := NewWithT(t)
	g.Expect(func() { MustParse("acme/p/t:list") }).To(PanicWith(BeAssignableToTypeOf(&ParseError{})))
}

func TestZeroScope(t *testing.T) {
	g := NewWithT(t)
	var z Scope
	g.Expect(z.String()).To(BeEmpty())
	g.Expect(z.Allows(Resource{}, 0)).To(BeFalse())
	g.Expect(z.Allows(Resource{Org: "a", Project: "p", Type: "t"}, Admin)).To(BeFalse())
	g.Expect(z.Covers(MustParse("a/p/t:read"))).To(BeFalse())
	g.Expect(MustParse("a/p/t:read").Covers(z)).To(BeTrue(), "a scope allowing nothing is covered by anything")
}

func TestAction(t *testing.T) {
	for _, tc := range []struct {
		s string
		a Action
	}{{"read", Read}, {"write", Write}, {"delete", Delete}, {"execute", Execute}, {"admin", Admin}} {
		t.Run(tc.s, func(t *testing.T) {
			g := NewWithT(t)
			a, err := ParseAction(tc.s)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(a).To(Equal(tc.a))
			g.Expect(a.String()).To(Equal(tc.s))
		})
	}
	for _, bad := range []string{"", "*", "Read", "list", " read", "all"} {
		t.Run("invalid "+bad, func(t *testing.T) {
			g := NewWithT(t)
			_, err := ParseAction(bad)
			g.Expect(err).To(MatchError(ContainSubstring("(want one of read, write, delete, execute, admin)")))
		})
	}
	g := NewWithT(t)
	g.Expect(Action(0).String()).To(Equal("Action(0)"))
	g.Expect(Action(9).String()).To(Equal("Action(9)"))
}

// name keeps subtest names readable for the very long rows.
func name(in string) string {
	if len(in) > 40 {
		return in[:40] + "..."
	}
	return in
}
