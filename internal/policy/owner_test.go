package policy

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	. "github.com/onsi/gomega"
)

func TestRequesterOwner(t *testing.T) {
	cases := map[string]struct {
		r        Requester
		username string
		want     string // "" when the user owns nothing, err holds why
		err      string
	}{
		"username":                    {Requester{Form: FormUsername}, "alice", "alice", ""},
		"username without its prefix": {Requester{Form: FormUsername, StripPrefix: "oidc:"}, "oidc:alice@example.com", "alice@example.com", ""},
		"prefix missing":              {Requester{Form: FormUsername, StripPrefix: "oidc:"}, "alice", "", `user "alice" does not begin with "oidc:"`},
		"a service account":           {Requester{Form: FormUsername}, "system:serviceaccount:team:ci", "", `user "system:serviceaccount:team:ci" does not make a valid owner`},
		"local part":                  {Requester{Form: FormLocalPart}, "alice@example.com", "alice", ""},
		"local part, last @":          {Requester{Form: FormLocalPart}, "a@b@example.com", "a@b", ""},
		"local part of no e-mail":     {Requester{Form: FormLocalPart}, "alice", "", `user "alice" is not an e-mail address`},
		"in the domain":               {Requester{Form: FormLocalPart, Domain: "example.com"}, "alice@Example.COM", "alice", ""},
		"another domain":              {Requester{Form: FormLocalPart, Domain: "example.com"}, "alice@example.org", "", `user "alice@example.org" is not in domain "example.com"`},
		"a look-alike domain":         {Requester{Form: FormLocalPart, Domain: "example.com"}, "alice@evilexample.com", "", "is not in domain"},
		"empty local part":            {Requester{Form: FormLocalPart}, "@example.com", "", "does not make a valid owner"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := tc.r.Owner(tc.username)
			if tc.err != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.err)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestMatchOwner(t *testing.T) {
	g := NewWithT(t)
	for _, tc := range []struct {
		pattern, owner string
		want           bool
	}{
		{"alice", "alice", true},
		{"alice", "alice2", false},
		{"svc-*", "svc-payments", true},
		{"svc-*", "svc-", true},
		{"svc-*", "svc", false},
		{"*@payments.example.com", "bob@payments.example.com", true},
		{"*@payments.example.com", "bob@evil.example.com", false},
		{"*@payments.example.com", "bob@payments.example.com.evil", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"*", "anything", true},
		{"**", "", true},
	} {
		g.Expect(MatchOwner(tc.pattern, tc.owner)).To(Equal(tc.want), "%q ~ %q", tc.pattern, tc.owner)
	}
}

// FuzzMatchOwner holds MatchOwner to the same glob as a regular
// expression.
func FuzzMatchOwner(f *testing.F) {
	f.Add("svc-*", "svc-payments")
	f.Add("a*b*c", "axxbyyc")
	f.Add("*@x", "a@x@x")
	f.Fuzz(func(t *testing.T, pattern, owner string) {
		// Owners and patterns are ASCII (the schema); byte-wise and
		// rune-wise matching agree on any valid UTF-8.
		if len(pattern) > 128 || len(owner) > 128 || !utf8.ValidString(pattern) || !utf8.ValidString(owner) {
			return
		}
		parts := strings.Split(pattern, "*")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		re := regexp.MustCompile("^(?s:" + strings.Join(parts, ".*") + ")$")
		if got, want := MatchOwner(pattern, owner), re.MatchString(owner); got != want {
			t.Fatalf("MatchOwner(%q, %q) = %v, the regular expression says %v", pattern, owner, got, want)
		}
	})
}

func TestOwnerRules(t *testing.T) {
	policyCreated := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	bound := Rules{Name: "team-a", Created: policyCreated, Owners: &Owners{
		FromRequester: &Requester{Form: FormLocalPart, Domain: "example.com"},
		Allowed:       []string{"team-a-bot-*"},
	}}
	listed := Rules{Name: "bots", Owners: &Owners{Allowed: []string{"svc-*", "ops"}}}
	user := func(s string) *string { return &s }
	key := func(owner string) Key {
		return Key{Namespace: "team-a", Owner: owner, Scopes: []string{"acme/payments/investigations:read"}}
	}
	created := func(owner string, at time.Time) Key { k := key(owner); k.Created = at; return k }
	requested := func(owner, by string) Key { k := key(owner); k.Requester = user(by); return k }
	cases := map[string]struct {
		key   Key
		rules Rules
		want  []string
	}{
		"the requester's own": {requested("alice", "alice@example.com"), bound, nil},
		"an allowed bot":      {requested("team-a-bot-1", "alice@example.com"), bound, nil},
		"someone else's, at creation": {requested("bob", "alice@example.com"), bound,
			[]string{`spec.owner: owner "bob" is not allowed by KeyPolicy "team-a": a key here belongs to the user who creates it (owner "alice" for user "alice@example.com"), or to one of: team-a-bot-*`}},
		"a requester who can own nothing": {requested("mallory", "mallory@evil.org"), bound,
			[]string{`spec.owner: owner "mallory" is not allowed by KeyPolicy "team-a": a key here belongs to the user who creates it, and user "mallory@evil.org" is not in domain "example.com", or to one of: team-a-bot-*`}},
		// An update's user did not choose the owner: it cannot change.
		"an update":               {key("bob"), bound, nil},
		"re-check, created after": {created("bob", policyCreated.Add(OwnerSettle)), bound, nil},
		"re-check, created while it settled": {created("bob", policyCreated.Add(OwnerSettle-time.Second)), bound,
			[]string{`spec.owner: KeyPolicy "team-a" binds owners to the user who creates a key, and this key was created before the policy applied, so nobody can tell whether "bob" created it: create a new key to have its owner checked, or use one of: team-a-bot-*`}},
		"re-check, created before":          {created("bob", policyCreated.Add(-time.Hour)), bound, []string{`spec.owner: KeyPolicy "team-a" binds owners`}},
		"re-check, created before, a bot":   {created("team-a-bot-1", policyCreated.Add(-time.Hour)), bound, nil},
		"listed":                            {requested("svc-payments", "anyone"), listed, nil},
		"listed exactly":                    {key("ops"), listed, nil},
		"not listed, at creation":           {requested("alice", "alice"), listed, []string{`spec.owner: owner "alice" is not allowed by KeyPolicy "bots" (allowed: svc-*, ops)`}},
		"not listed, on update or re-check": {created("alice", policyCreated), listed, []string{`spec.owner: owner "alice" is not allowed by KeyPolicy "bots"`}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, vs := Evaluate(tc.key, []Rules{tc.rules}, false)
			expectViolations(NewWithT(t), vs, tc.want)
		})
	}
}
