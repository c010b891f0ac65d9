package policy

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/scope"
)

func set(ss ...string) scope.Set {
	s, err := scope.ParseSet(ss)
	if err != nil {
		panic(err)
	}
	return s
}

func dur(d time.Duration) *time.Duration { return &d }

func cidrs(c []string) access.Conditions { return access.Conditions{SourceCIDRs: c} }

func TestEvaluate(t *testing.T) {
	day := 24 * time.Hour
	payments := Rules{
		Name:                   "payments",
		AllowedScopes:          set("acme/payments/*:read", "acme/payments/investigations:write"),
		Roles:                  map[string]scope.Set{"analyst": set("acme/payments/investigations:read", "acme/payments/evidence:read")},
		MaxLifetime:            90 * day,
		MaxRotationInterval:    30 * day,
		SourceCIDRsRequiredFor: []scope.Action{scope.Write, scope.Delete, scope.Admin},
	}
	good := Key{Scopes: []string{"acme/payments/evidence:read"}, Lifetime: dur(30 * day), RotationInterval: day}
	cases := map[string]struct {
		key          Key
		rules        []Rules
		defaultAllow bool
		want         []string // field: substring
	}{
		"allowed": {good, []Rules{payments}, false, nil},
		"scope outside the policy": {
			Key{Scopes: []string{"acme/hr/users:read"}, Lifetime: dur(day), RotationInterval: day}, []Rules{payments}, false,
			[]string{`spec.scopes[0]: scope "acme/hr/users:read" is not allowed by KeyPolicy "payments"`},
		},
		"role resolves": {Key{Role: "analyst", Lifetime: dur(day), RotationInterval: day}, []Rules{payments}, false, nil},
		"unknown role": {
			Key{Role: "auditor", Lifetime: dur(day)}, []Rules{payments}, false,
			[]string{`spec.role: role "auditor" is not defined by any KeyPolicy that applies to this namespace (roles defined: analyst)`},
		},
		"no expiry": {
			Key{Scopes: good.Scopes, RotationInterval: day}, []Rules{payments}, false,
			[]string{`spec.expiration: KeyPolicy "payments" requires an expiry at most 90 days after creation`},
		},
		"lifetime too long": {
			Key{Scopes: good.Scopes, Lifetime: dur(365 * day), RotationInterval: day}, []Rules{payments}, false,
			[]string{`spec.expiration: a lifetime of 365 days is longer than the 90 days KeyPolicy "payments" allows`},
		},
		"no rotation": {
			Key{Scopes: good.Scopes, Lifetime: dur(day)}, []Rules{payments}, false,
			[]string{`spec.rotation.intervalSeconds: KeyPolicy "payments" requires scheduled rotation at least every 2592000 seconds`},
		},
		"write without allowlist": {
			Key{Scopes: []string{"acme/payments/investigations:write"}, Lifetime: dur(day), RotationInterval: day}, []Rules{payments}, false,
			[]string{`spec.scopes[0]: scope "acme/payments/investigations:write" grants write, which KeyPolicy "payments" allows only with spec.conditions.sourceCIDRs`},
		},
		"write with allowlist": {
			Key{Scopes: []string{"acme/payments/investigations:write"}, Conditions: cidrs([]string{"10.0.0.0/8"}), Lifetime: dur(day), RotationInterval: day},
			[]Rules{payments}, false, nil,
		},
		"every policy must allow": {
			good, []Rules{payments, {Name: "strict", AllowedScopes: set("acme/payments/investigations:read")}}, false,
			[]string{`spec.scopes[0]: scope "acme/payments/evidence:read" is not allowed by KeyPolicy "strict"`},
		},
		"an auth method outside the policy": {
			Key{Scopes: good.Scopes, Lifetime: dur(day), RotationInterval: day, AuthMethods: []string{"APIKey", "ClientCredentials"}},
			[]Rules{{Name: "tokens-only", AllowedAuthMethods: []string{"ClientCredentials"}}}, false,
			[]string{`spec.authMethods[0]: auth method "APIKey" is not allowed by KeyPolicy "tokens-only" (allowed: ClientCredentials)`},
		},
		"no policy, default allow": {good, nil, true, nil},
		"no policy, default deny": {
			Key{Namespace: "team-a", Scopes: good.Scopes}, nil, false,
			[]string{`metadata.namespace: no KeyPolicy selects namespace "team-a", and keyward refuses keys in such namespaces (--default-policy=deny, the default): ` +
				"to allow keys here, a cluster administrator must create a KeyPolicy whose namespaceSelector selects it, or run the manager with --default-policy=allow"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, vs := Evaluate(tc.key, tc.rules, tc.defaultAllow)
			expectViolations(NewWithT(t), vs, tc.want)
		})
	}
}

// A KeyPolicy counts the keys it refuses by name, so every refusal names
// the one policy behind it, and only such refusals do.
func TestEvaluateNamesThePolicyThatRefuses(t *testing.T) {
	g := NewWithT(t)
	day := 24 * time.Hour
	key := Key{Scopes: []string{"acme/payments/evidence:write"}, Lifetime: dur(day), Owner: "mallory"}
	rules := []Rules{
		{Name: "owners", Owners: &Owners{Allowed: []string{"alice"}}},
		{Name: "rotation", MaxRotationInterval: day, SourceCIDRsRequiredFor: []scope.Action{scope.Write}},
		{Name: "lenient"},
	}
	_, vs := Evaluate(key, rules, false)
	g.Expect(vs).To(HaveLen(3))
	policies := map[string]string{}
	for _, v := range vs {
		policies[v.Field] = v.Policy
	}
	g.Expect(policies).To(Equal(map[string]string{
		"spec.owner": "owners", "spec.rotation.intervalSeconds": "rotation", "spec.scopes[0]": "rotation",
	}))

	_, vs = Evaluate(Key{Role: "auditor"}, rules, false)
	g.Expect(vs).To(HaveLen(1))
	g.Expect(vs[0].Policy).To(BeEmpty(), "an undefined role is no one policy's refusal")
	_, vs = Evaluate(key, nil, false)
	g.Expect(vs).To(HaveLen(1))
	g.Expect(vs[0].Policy).To(BeEmpty(), "nor is a namespace no policy selects")
	dvs := Delegation(key, set("acme/payments/evidence:write"), Parent{Name: "org", Scopes: set("acme/payments/evidence:read")})
	g.Expect(dvs).NotTo(BeEmpty())
	for _, v := range dvs {
		g.Expect(v.Policy).To(BeEmpty(), "nor is what the parent key does not allow")
	}
}

func TestDelegation(t *testing.T) {
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	later := exp.Add(time.Hour)
	parent := Parent{Name: "org-key", Scopes: set("acme/*/investigations:admin"), Conditions: cidrs([]string{"10.0.0.0/8"}), ExpiresAt: &exp, AuthMethods: []string{"APIKey"}}
	cases := map[string]struct {
		child Key
		want  []string
	}{
		"a narrower child": {Key{Scopes: []string{"acme/payments/investigations:read"}, Conditions: cidrs([]string{"10.1.0.0/16"}), ExpiresAt: &exp}, nil},
		"broader scope": {
			Key{Scopes: []string{"acme/payments/evidence:read"}, Conditions: cidrs([]string{"10.1.0.0/16"}), ExpiresAt: &exp},
			[]string{`spec.scopes[0]: scope "acme/payments/evidence:read" is broader than parent key "org-key" allows`},
		},
		"no allowlist": {
			Key{Scopes: []string{"acme/payments/investigations:read"}, ExpiresAt: &exp},
			[]string{`spec.conditions.sourceCIDRs: parent key "org-key" is limited to 10.0.0.0/8`},
		},
		"wider network": {
			Key{Scopes: []string{"acme/payments/investigations:read"}, Conditions: cidrs([]string{"0.0.0.0/0"}), ExpiresAt: &exp},
			[]string{`spec.conditions.sourceCIDRs[0]: network 0.0.0.0/0 is not inside the networks of parent key "org-key"`},
		},
		"outlives the parent": {
			Key{Scopes: []string{"acme/payments/investigations:read"}, Conditions: cidrs([]string{"10.0.0.0/8"}), ExpiresAt: &later},
			[]string{`spec.expiration: expiry 2027-01-01T01:00:00Z is later than parent key "org-key"'s`},
		},
		"a condition the parent lacks": {
			Key{Scopes: []string{"acme/payments/investigations:read"}, Conditions: access.Conditions{SourceCIDRs: []string{"10.0.0.0/8"}, Countries: []string{"FR"}}, ExpiresAt: &exp},
			nil,
		},
		"an auth method the parent lacks": {
			Key{Scopes: []string{"acme/payments/investigations:read"}, Conditions: cidrs([]string{"10.0.0.0/8"}), ExpiresAt: &exp, AuthMethods: []string{"ClientCredentials"}},
			[]string{`spec.authMethods[0]: auth method "ClientCredentials" is not one parent key "org-key" may use (parent auth methods: APIKey)`},
		},
		"never expires": {
			Key{Scopes: []string{"acme/payments/investigations:read"}, Conditions: cidrs([]string{"10.0.0.0/8"})},
			[]string{`spec.expiration: parent key "org-key" expires at 2027-01-01T00:00:00Z`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			childScopes, vs := Scopes(tc.child, nil)
			g.Expect(vs).To(BeEmpty())
			expectViolations(g, Delegation(tc.child, childScopes, parent), tc.want)
		})
	}
}

func TestDelegationComparesEveryAccessCondition(t *testing.T) {
	office := access.TimeWindow{Days: []string{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "08:00", End: "20:00", TimeZone: "Europe/Berlin"}
	parent := Parent{Name: "org-key", Scopes: set("acme/*/investigations:admin"), Conditions: access.Conditions{
		SourceCIDRs: []string{"10.0.0.0/8"}, TimeWindows: []access.TimeWindow{office},
		Countries: []string{"DE", "NL"}, Networks: []string{"corp"}, RequireCompliantDevice: true,
	}}
	narrow := func(mutate func(*access.Conditions)) Key {
		c := access.Conditions{
			SourceCIDRs: []string{"10.1.0.0/16"},
			TimeWindows: []access.TimeWindow{{Days: []string{"Mon"}, Start: "09:00", End: "17:00", TimeZone: "Europe/Berlin"}},
			Countries:   []string{"DE"}, Networks: []string{"corp"}, RequireCompliantDevice: true,
		}
		if mutate != nil {
			mutate(&c)
		}
		return Key{Scopes: []string{"acme/payments/investigations:read"}, Conditions: c}
	}
	cases := map[string]struct {
		child Key
		want  []string
	}{
		"narrower in every way": {narrow(nil), nil},
		"a broader country": {
			narrow(func(c *access.Conditions) { c.Countries = []string{"FR"} }),
			[]string{`spec.conditions.countries[0]: country "FR" is not allowed by parent key "org-key" (parent allows: DE, NL)`},
		},
		"no countries": {
			narrow(func(c *access.Conditions) { c.Countries = nil }),
			[]string{`spec.conditions.countries: parent key "org-key" is limited to the countries DE, NL`},
		},
		"another network class": {
			narrow(func(c *access.Conditions) { c.Networks = []string{"corp", "wifi"} }),
			[]string{`spec.conditions.networks[1]: network class "wifi" is not allowed by parent key "org-key" (parent allows: corp)`},
		},
		"a later window": {
			narrow(func(c *access.Conditions) { c.TimeWindows[0].End = "21:00" }),
			[]string{`spec.conditions.timeWindows[0]: time window Mon 09:00-21:00 Europe/Berlin is not inside the time windows of parent key "org-key" (Mon,Tue,Wed,Thu,Fri 08:00-20:00 Europe/Berlin)`},
		},
		"any device": {
			narrow(func(c *access.Conditions) { c.RequireCompliantDevice = false }),
			[]string{`spec.conditions.requireCompliantDevice: parent key "org-key" requires a compliant device`},
		},
		"nothing at all": {
			narrow(func(c *access.Conditions) { *c = access.Conditions{} }),
			[]string{"spec.conditions.sourceCIDRs:", "spec.conditions.countries:", "spec.conditions.networks:", "spec.conditions.timeWindows:", "spec.conditions.requireCompliantDevice:"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			childScopes, _ := Scopes(tc.child, nil)
			vs := Delegation(tc.child, childScopes, parent)
			for _, v := range vs {
				g.Expect(v.Suspend).To(BeTrue(), "a key looser than its parent is an escalation")
			}
			expectViolations(g, vs, tc.want)
		})
	}
}

func TestWarnings(t *testing.T) {
	g := NewWithT(t)
	k := Key{Scopes: []string{"*/x/users:read", "acme/*/users:read", "acme/p/users:read"}}
	s, _ := Scopes(k, nil)
	g.Expect(Warnings(k, s)).To(Equal([]string{
		"spec.expiration is not set: this key never expires",
		`scope "*/x/users:read" applies to every organisation`,
		`scope "acme/*/users:read" applies to every project`,
	}))
}
