package v1alpha1

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyward-dev/keyward/internal/conditions"
	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/internal/scope"
)

// ExpiresAt is when the key expires, or nil. created stands in for the
// creation time of a key that is not created yet.
func (k *APIKey) ExpiresAt(created time.Time) *time.Time {
	e := k.Spec.Expiration
	if !k.CreationTimestamp.IsZero() {
		created = k.CreationTimestamp.Time
	}
	switch {
	case e == nil:
		return nil
	case e.At != nil:
		t := e.At.UTC()
		return &t
	case e.AfterDays != nil:
		t := created.UTC().Add(time.Duration(*e.AfterDays) * 24 * time.Hour)
		return &t
	}
	return nil
}

// PolicyKey is what the key asks for, in the policy package's terms.
func (k *APIKey) PolicyKey(now time.Time) policy.Key {
	pk := policy.Key{Namespace: k.Namespace, Owner: k.Spec.Owner, Role: k.Spec.Role, RotationInterval: k.RotationInterval()}
	for _, s := range k.Spec.Scopes {
		pk.Scopes = append(pk.Scopes, string(s))
	}
	pk.Conditions = k.AccessConditions()
	pk.AuthMethods = authMethodStrings(k.EffectiveAuthMethods())
	pk.RateLimit = k.RecordRateLimit()
	created := now
	if !k.CreationTimestamp.IsZero() {
		created = k.CreationTimestamp.Time
	}
	if exp := k.ExpiresAt(now); exp != nil {
		lifetime := exp.Sub(created)
		pk.ExpiresAt, pk.Lifetime = exp, &lifetime
	}
	return pk
}

// Rules converts a KeyPolicy for the policy package.
func (p *KeyPolicy) Rules() (policy.Rules, error) {
	r := policy.Rules{Name: p.Name, Suspend: p.Spec.Enforcement == EnforcementSuspend, RateLimitCeiling: p.Spec.RateLimitCeiling.rules(),
		Owners: p.Spec.Owners.rules(), Created: p.CreationTimestamp.Time}
	if len(p.Spec.AllowedScopes) > 0 {
		set, err := scope.ParseSet(scopeStrings(p.Spec.AllowedScopes))
		if err != nil {
			return r, err
		}
		r.AllowedScopes = set
	}
	if len(p.Spec.Roles) > 0 {
		r.Roles = map[string]scope.Set{}
		for _, role := range p.Spec.Roles {
			set, err := scope.ParseSet(scopeStrings(role.Scopes))
			if err != nil {
				return r, fmt.Errorf("role %q: %w", role.Name, err)
			}
			r.Roles[role.Name] = set
		}
	}
	if p.Spec.MaxLifetimeDays != nil {
		r.MaxLifetime = time.Duration(*p.Spec.MaxLifetimeDays) * 24 * time.Hour
	}
	if p.Spec.MaxRotationIntervalSeconds != nil {
		r.MaxRotationInterval = time.Duration(*p.Spec.MaxRotationIntervalSeconds) * time.Second
	}
	if len(p.Spec.AllowedAuthMethods) > 0 {
		r.AllowedAuthMethods = authMethodStrings(p.Spec.AllowedAuthMethods)
	}
	for _, a := range p.Spec.SourceCIDRsRequiredFor {
		action, err := scope.ParseAction(string(a))
		if err != nil {
			return r, err
		}
		r.SourceCIDRsRequiredFor = append(r.SourceCIDRsRequiredFor, action)
	}
	return r, nil
}

func (o *OwnerRules) rules() *policy.Owners {
	if o == nil {
		return nil
	}
	out := &policy.Owners{Allowed: plainStrings(o.Allowed)}
	if r := o.FromRequester; r != nil {
		form := policy.FormUsername
		if r.Form == OwnerFormLocalPart {
			form = policy.FormLocalPart
		}
		out.FromRequester = &policy.Requester{Form: form, StripPrefix: r.StripPrefix, Domain: r.Domain}
	}
	return out
}

// Selects reports whether the policy governs a namespace with these labels.
func (p *KeyPolicy) Selects(namespaceLabels map[string]string) (bool, error) {
	sel, err := metav1.LabelSelectorAsSelector(&p.Spec.NamespaceSelector)
	if err != nil {
		return false, err
	}
	return sel.Matches(labelSet(namespaceLabels)), nil
}

// PoliciesFor returns the rules of every KeyPolicy that selects namespace.
func PoliciesFor(ctx context.Context, r client.Reader, namespace string) ([]policy.Rules, error) {
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return nil, fmt.Errorf("reading namespace %q: %w", namespace, err)
	}
	list := &KeyPolicyList{}
	if err := r.List(ctx, list); err != nil {
		return nil, err
	}
	var out []policy.Rules
	for i := range list.Items {
		p := &list.Items[i]
		ok, err := p.Selects(ns.Labels)
		if err != nil || !ok {
			continue
		}
		rules, err := p.Rules()
		if err != nil {
			return nil, fmt.Errorf("KeyPolicy %q: %w", p.Name, err)
		}
		out = append(out, rules)
	}
	return out, nil
}

// Ancestry is what the chain of parents above a key says.
type Ancestry struct {
	// Parent is the direct parent, nil when the key delegates from none or
	// the parent is gone.
	Parent *APIKey
	// Missing names a parent that does not exist (or is being deleted).
	Missing string
	// Revoked and Suspended name the nearest ancestor in that state.
	Revoked, Suspended string
	// Cycle or TooDeep describe a chain keyward refuses.
	Cycle, TooDeep bool
}

// Ancestors walks up from key's parent, at most policy.MaxDelegationDepth
// steps.
func Ancestors(ctx context.Context, r client.Reader, key *APIKey) (Ancestry, error) {
	var a Ancestry
	seen := map[string]bool{key.Name: true}
	cur := key
	for depth := 0; cur.Spec.Parent != nil; depth++ {
		if depth == policy.MaxDelegationDepth {
			a.TooDeep = true
			return a, nil
		}
		name := cur.Spec.Parent.Name
		if seen[name] {
			a.Cycle = true
			return a, nil
		}
		seen[name] = true
		parent := &APIKey{}
		err := r.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: name}, parent)
		switch {
		case apierrors.IsNotFound(err) || (err == nil && !parent.DeletionTimestamp.IsZero()):
			if a.Missing == "" {
				a.Missing = name
			}
			return a, nil
		case err != nil:
			return a, err
		}
		if depth == 0 {
			a.Parent = parent
		}
		if parent.Spec.Revoked && a.Revoked == "" {
			a.Revoked = name
		}
		if parent.Spec.Suspended && a.Suspended == "" {
			a.Suspended = name
		}
		cur = parent
	}
	return a, nil
}

// PolicyParent describes a parent key for the delegation check, with the
// scopes it holds (its status, which resolves roles).
func (k *APIKey) PolicyParent() (policy.Parent, error) {
	names := k.Status.Scopes
	if len(names) == 0 {
		names = scopeStrings(k.Spec.Scopes)
	}
	set, err := scope.ParseSet(names)
	if err != nil {
		return policy.Parent{}, err
	}
	pk := k.PolicyKey(time.Now())
	return policy.Parent{Name: k.Name, Scopes: set, Conditions: pk.Conditions, ExpiresAt: pk.ExpiresAt, AuthMethods: pk.AuthMethods, RateLimit: pk.RateLimit}, nil
}

// AccessConditions are the key's conditions as plain data: what the
// webhook checks, delegation compares and the key record carries, so that
// all three read the spec the same way. The result shares no memory with
// the spec.
func (k *APIKey) AccessConditions() conditions.Conditions {
	c := k.Spec.Conditions
	if c == nil {
		return conditions.Conditions{}
	}
	out := conditions.Conditions{
		SourceCIDRs:            plainStrings(c.SourceCIDRs),
		Countries:              plainStrings(c.Countries),
		Networks:               plainStrings(c.Networks),
		RequireCompliantDevice: c.RequireCompliantDevice,
	}
	for _, w := range c.TimeWindows {
		out.TimeWindows = append(out.TimeWindows, conditions.TimeWindow{
			Days: plainStrings(w.Days), Start: w.Start, End: w.End, TimeZone: w.TimeZone,
		})
	}
	return out
}

// plainStrings converts a list of a string type; empty lists become nil, so
// that an empty and an omitted list read the same.
func plainStrings[T ~string](in []T) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	return out
}

func scopeStrings(in []Scope) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	return out
}

type labelSet map[string]string

func (l labelSet) Has(k string) bool              { _, ok := l[k]; return ok }
func (l labelSet) Get(k string) string            { return l[k] }
func (l labelSet) Lookup(k string) (string, bool) { v, ok := l[k]; return v, ok }

// EffectiveAuthMethods are the key's authentication methods, the default
// when it sets none.
func (k *APIKey) EffectiveAuthMethods() []AuthMethod {
	if len(k.Spec.AuthMethods) == 0 {
		return DefaultAuthMethods
	}
	return k.Spec.AuthMethods
}

func authMethodStrings(ms []AuthMethod) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}
