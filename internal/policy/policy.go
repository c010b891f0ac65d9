// Package policy decides whether an API key is allowed by the KeyPolicies
// that select it and by the key it delegates from. It is the one
// implementation behind the admission webhook (which refuses) and the
// controller (which re-evaluates existing keys when a policy or a parent
// changes), so the two can never disagree.
package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/scope"
)

// MaxDelegationDepth bounds a chain of parent keys.
const MaxDelegationDepth = 4

// Rules is one KeyPolicy, as plain data.
type Rules struct {
	Name string
	// Suspend: keys this policy no longer allows are suspended, not only
	// reported.
	Suspend bool
	// SuspendLeakedKeys: a key reported leaked is suspended until its next
	// rotation rather than revoked.
	SuspendLeakedKeys bool
	// AllowedScopes, when not nil, must cover every scope of a key.
	AllowedScopes scope.Set
	// Roles name bundles of scopes a key may ask for instead of scopes.
	Roles map[string]scope.Set
	// MaxLifetime, when set, requires an expiry at most this far from the
	// key's creation.
	MaxLifetime time.Duration
	// MaxRotationInterval, when set, requires scheduled rotation at most
	// this often.
	MaxRotationInterval time.Duration
	// SourceCIDRsRequiredFor lists actions a key may only hold with a
	// source CIDR allowlist.
	SourceCIDRsRequiredFor []scope.Action
	// AllowedAuthMethods, when not nil, lists the only authentication
	// methods a key may have.
	AllowedAuthMethods []string
	// AllowedAuthorities, when not nil, lists the only certificate
	// authorities a key's client certificate binding may name; a binding
	// must then name one, whatever it binds by.
	AllowedAuthorities []string
	// RateLimitCeiling, when not nil, is the loosest rate limit a key may
	// have; a key needs at least one limit within it.
	RateLimitCeiling *Ceiling
	// Owners, when not nil, limit who keys may belong to.
	Owners *Owners
	// AnomalyResponse is the least action each detector must have on a
	// key.
	AnomalyResponse AnomalyResponse
	// Created is when the policy was created: a binding of owners to
	// requesters checked no key created before it.
	Created time.Time
}

// Key is what an APIKey asks for, as plain data.
type Key struct {
	// Namespace is where the key is, for messages.
	Namespace string
	Owner     string
	// Requester is the user whose creation of the key is being admitted;
	// nil for an update (whose user did not choose the owner, which
	// cannot change) and for the re-check of existing keys.
	Requester *string
	// Created is when an existing key was created, for the re-check; zero
	// at admission.
	Created    time.Time
	Scopes     []string
	Role       string
	Conditions access.Conditions
	// Lifetime is from creation to expiry; nil when the key never expires.
	Lifetime *time.Duration
	// ExpiresAt is the expiry instant, nil for never.
	ExpiresAt        *time.Time
	RotationInterval time.Duration
	// AuthMethods are the ways the key may authenticate (never empty for
	// a key; the API's default is filled in by the caller).
	AuthMethods []string
	// ClientCertificate is the key's certificate binding, nil without the
	// MutualTLS method.
	ClientCertificate *certbind.Binding
	RateLimit         record.RateLimit
	// AnomalyResponse is the key's own action per detector.
	AnomalyResponse AnomalyResponse
}

// Parent is the key a delegated key derives from.
type Parent struct {
	Name       string
	Scopes     scope.Set
	Conditions access.Conditions
	ExpiresAt  *time.Time
	// AuthMethods are the parent's; nil when unknown (not checked).
	AuthMethods []string
	RateLimit   record.RateLimit
}

// Violation is one reason a key is not allowed, with the field it concerns
// and a sentence a person can act on.
type Violation struct {
	Field   string
	Message string
	// Policy names the KeyPolicy that refuses; empty when no one policy
	// does (no policy selects the namespace, a role is undefined, the
	// parent key refuses). KeyPolicies count the keys they refuse by it.
	Policy string
	// Suspend: the violation suspends an existing key (a policy in
	// Suspend mode, an unresolvable role, a broader-than-parent key).
	Suspend bool
}

func (v Violation) String() string { return v.Field + ": " + v.Message }

// Scopes resolves the scopes a key asks for: its own, or its role's from
// the first selecting policy (by name) that defines the role.
func Scopes(k Key, rules []Rules) (scope.Set, []Violation) {
	if k.Role == "" {
		set, err := scope.ParseSet(k.Scopes)
		if err != nil {
			return nil, []Violation{{Field: "spec.scopes", Message: err.Error(), Suspend: true}}
		}
		return set, nil
	}
	for _, r := range sortedByName(rules) {
		if set, ok := r.Roles[k.Role]; ok {
			return set, nil
		}
	}
	var defined []string
	for _, r := range rules {
		for name := range r.Roles {
			defined = append(defined, name)
		}
	}
	slices.Sort(defined)
	msg := fmt.Sprintf("role %q is not defined by any KeyPolicy that applies to this namespace", k.Role)
	if len(defined) > 0 {
		msg += " (roles defined: " + strings.Join(slices.Compact(defined), ", ") + ")"
	}
	return nil, []Violation{{Field: "spec.role", Message: msg, Suspend: true}}
}

// Evaluate checks a key against every selecting policy: all must allow.
// With no selecting policy, defaultAllow decides.
func Evaluate(k Key, rules []Rules, defaultAllow bool) (scope.Set, []Violation) {
	if len(rules) == 0 && !defaultAllow {
		return nil, []Violation{{Field: "metadata.namespace", Message: fmt.Sprintf("no KeyPolicy selects namespace %q, and keyward refuses keys in such namespaces "+
			"(--default-policy=deny, the default): to allow keys here, a cluster administrator must create a KeyPolicy whose namespaceSelector selects it, "+
			"or run the manager with --default-policy=allow", k.Namespace)}}
	}
	set, vs := Scopes(k, rules)
	if len(vs) > 0 {
		return nil, vs
	}
	for _, r := range sortedByName(rules) {
		for _, v := range r.check(k, set) {
			v.Suspend, v.Policy = r.Suspend, r.Name
			vs = append(vs, v)
		}
	}
	return set, vs
}

func (r Rules) check(k Key, set scope.Set) []Violation {
	vs := r.checkOwner(k)
	field := func(i int) string {
		if k.Role != "" {
			return "spec.role"
		}
		return fmt.Sprintf("spec.scopes[%d]", i)
	}
	if r.AllowedScopes != nil {
		for i, s := range set {
			if !r.AllowedScopes.Covers(scope.Set{s}) {
				vs = append(vs, Violation{Field: field(i), Message: fmt.Sprintf("scope %q is not allowed by KeyPolicy %q (allowed: %s)",
					s, r.Name, strings.Join(r.AllowedScopes.Strings(), ", "))})
			}
		}
	}
	if r.MaxLifetime > 0 {
		switch {
		case k.Lifetime == nil:
			vs = append(vs, Violation{Field: "spec.expiration", Message: fmt.Sprintf("KeyPolicy %q requires an expiry at most %s after creation", r.Name, days(r.MaxLifetime))})
		case *k.Lifetime > r.MaxLifetime:
			vs = append(vs, Violation{Field: "spec.expiration", Message: fmt.Sprintf("a lifetime of %s is longer than the %s KeyPolicy %q allows", days(*k.Lifetime), days(r.MaxLifetime), r.Name)})
		}
	}
	if r.MaxRotationInterval > 0 {
		switch {
		case k.RotationInterval == 0:
			vs = append(vs, Violation{Field: "spec.rotation.intervalSeconds", Message: fmt.Sprintf("KeyPolicy %q requires scheduled rotation at least every %d seconds", r.Name, int64(r.MaxRotationInterval/time.Second))})
		case k.RotationInterval > r.MaxRotationInterval:
			vs = append(vs, Violation{Field: "spec.rotation.intervalSeconds", Message: fmt.Sprintf("a rotation interval of %d seconds is longer than the %d seconds KeyPolicy %q allows",
				int64(k.RotationInterval/time.Second), int64(r.MaxRotationInterval/time.Second), r.Name)})
		}
	}
	if len(r.SourceCIDRsRequiredFor) > 0 && len(k.Conditions.SourceCIDRs) == 0 {
		for i, s := range set {
			for _, a := range r.SourceCIDRsRequiredFor {
				if s.Grants(a) {
					vs = append(vs, Violation{Field: field(i), Message: fmt.Sprintf("scope %q grants %s, which KeyPolicy %q allows only with spec.conditions.sourceCIDRs", s, a, r.Name)})
					break
				}
			}
		}
	}
	vs = append(vs, r.checkCeiling(k)...)
	if r.AllowedAuthMethods != nil {
		for i, m := range k.AuthMethods {
			if !slices.Contains(r.AllowedAuthMethods, m) {
				vs = append(vs, Violation{Field: fmt.Sprintf("spec.authMethods[%d]", i), Message: fmt.Sprintf("auth method %q is not allowed by KeyPolicy %q (allowed: %s)",
					m, r.Name, strings.Join(r.AllowedAuthMethods, ", "))})
			}
		}
	}
	if v, ok := r.checkAuthority(k); !ok {
		vs = append(vs, v)
	}
	return append(vs, r.checkAnomalyResponse(k)...)
}

// checkAuthority keeps a key under a policy with allowedAuthorities to
// certificates those authorities issued. A thumbprint without an authority
// would admit a self-signed certificate, which no authority vouches for.
func (r Rules) checkAuthority(k Key) (Violation, bool) {
	b := k.ClientCertificate
	if r.AllowedAuthorities == nil || b == nil || slices.Contains(r.AllowedAuthorities, b.Authority) {
		return Violation{}, true
	}
	allowed := strings.Join(r.AllowedAuthorities, ", ")
	if b.Authority == "" {
		return Violation{Field: "spec.clientCertificate.authority", Message: fmt.Sprintf("KeyPolicy %q requires a certificate issued by one of its authorities (%s): name one, even with a thumbprint", r.Name, allowed)}, false
	}
	return Violation{Field: "spec.clientCertificate.authority", Message: fmt.Sprintf("authority %q is not allowed by KeyPolicy %q (allowed: %s)", b.Authority, r.Name, allowed)}, false
}

// Delegation checks a key against the parent it delegates from: no broader
// scopes, conditions at least as strict (access.AtLeastAsStrict), rate
// limits at least as strict, no later expiry. A key that holds
// more than its parent is an escalation, so every violation suspends.
func Delegation(child Key, childScopes scope.Set, parent Parent) []Violation {
	vs := delegation(child, childScopes, parent)
	for i := range vs {
		vs[i].Suspend = true
	}
	return vs
}

func delegation(child Key, childScopes scope.Set, parent Parent) []Violation {
	var vs []Violation
	for i, s := range childScopes {
		if !parent.Scopes.Covers(scope.Set{s}) {
			f := fmt.Sprintf("spec.scopes[%d]", i)
			if child.Role != "" {
				f = "spec.role"
			}
			vs = append(vs, Violation{Field: f, Message: fmt.Sprintf("scope %q is broader than parent key %q allows (parent scopes: %s)", s, parent.Name, strings.Join(parent.Scopes.Strings(), ", "))})
		}
	}
	for _, p := range access.AtLeastAsStrict(child.Conditions, parent.Conditions, parent.Name) {
		vs = append(vs, Violation{Field: "spec.conditions." + p.Field, Message: p.Message})
	}
	vs = append(vs, delegatedLimits(child, parent)...)
	if parent.AuthMethods != nil {
		for i, m := range child.AuthMethods {
			if !slices.Contains(parent.AuthMethods, m) {
				vs = append(vs, Violation{Field: fmt.Sprintf("spec.authMethods[%d]", i), Message: fmt.Sprintf("auth method %q is not one parent key %q may use (parent auth methods: %s)", m, parent.Name, strings.Join(parent.AuthMethods, ", "))})
			}
		}
	}
	if parent.ExpiresAt != nil {
		switch {
		case child.ExpiresAt == nil:
			vs = append(vs, Violation{Field: "spec.expiration", Message: fmt.Sprintf("parent key %q expires at %s; a delegated key must expire no later", parent.Name, parent.ExpiresAt.UTC().Format(time.RFC3339))})
		case child.ExpiresAt.After(*parent.ExpiresAt):
			vs = append(vs, Violation{Field: "spec.expiration", Message: fmt.Sprintf("expiry %s is later than parent key %q's (%s)", child.ExpiresAt.UTC().Format(time.RFC3339), parent.Name, parent.ExpiresAt.UTC().Format(time.RFC3339))})
		}
	}
	return vs
}

// Warnings are soft issues worth telling the person who applies a key.
func Warnings(k Key, set scope.Set) []string {
	var ws []string
	if k.Lifetime == nil {
		ws = append(ws, "spec.expiration is not set: this key never expires")
	}
	for _, s := range set {
		if s.Org() == "*" || s.Project() == "*" {
			ws = append(ws, fmt.Sprintf("scope %q applies to every %s", s, map[bool]string{true: "organisation", false: "project"}[s.Org() == "*"]))
		}
	}
	return ws
}

func sortedByName(rules []Rules) []Rules {
	out := slices.Clone(rules)
	slices.SortFunc(out, func(a, b Rules) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", int64(d/(24*time.Hour)))
	}
	return d.String()
}
