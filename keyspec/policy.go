package keyspec

import (
	"fmt"
	"time"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/internal/scope"
)

// PolicyKey is what the key asks for, in the policy package's terms. now
// stands in for the creation time of a key that is not created yet (at
// admission).
func PolicyKey(k *keywardv1.APIKey, now time.Time) policy.Key {
	pk := policy.Key{Namespace: k.Namespace, Owner: k.Spec.Owner, Role: k.Spec.Role, RotationInterval: k.RotationInterval()}
	for _, s := range k.Spec.Scopes {
		pk.Scopes = append(pk.Scopes, string(s))
	}
	pk.Conditions = AccessConditions(k)
	pk.AuthMethods = plainStrings(k.EffectiveAuthMethods())
	pk.ClientCertificate = ClientCertificate(k)
	pk.RateLimit = RecordRateLimit(k)
	pk.AnomalyResponse = AnomalyResponse(k.Spec.AnomalyResponse)
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

// PolicyParent describes a parent key for the delegation check, with the
// scopes it holds (its status, which resolves roles).
func PolicyParent(k *keywardv1.APIKey, now time.Time) (policy.Parent, error) {
	names := k.Status.Scopes
	if len(names) == 0 {
		names = plainStrings(k.Spec.Scopes)
	}
	set, err := scope.ParseSet(names)
	if err != nil {
		return policy.Parent{}, err
	}
	pk := PolicyKey(k, now)
	return policy.Parent{Name: k.Name, Scopes: set, Conditions: pk.Conditions, ExpiresAt: pk.ExpiresAt, AuthMethods: pk.AuthMethods, RateLimit: pk.RateLimit}, nil
}

// Rules converts a KeyPolicy for the policy package. An error means a spec
// the schema let through but the scope grammar refuses.
func Rules(p *keywardv1.KeyPolicy) (policy.Rules, error) {
	r := policy.Rules{Name: p.Name, Suspend: p.Spec.Enforcement == keywardv1.EnforcementSuspend,
		SuspendLeakedKeys: p.Spec.LeakedKeys == keywardv1.LeakedKeySuspend, RateLimitCeiling: ceiling(p.Spec.RateLimitCeiling),
		Owners: owners(p.Spec.Owners), Created: p.CreationTimestamp.Time, AnomalyResponse: AnomalyResponse(p.Spec.AnomalyResponse)}
	if len(p.Spec.AllowedScopes) > 0 {
		set, err := scope.ParseSet(plainStrings(p.Spec.AllowedScopes))
		if err != nil {
			return r, err
		}
		r.AllowedScopes = set
	}
	if len(p.Spec.Roles) > 0 {
		r.Roles = map[string]scope.Set{}
		for _, role := range p.Spec.Roles {
			set, err := scope.ParseSet(plainStrings(role.Scopes))
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
		r.AllowedAuthMethods = plainStrings(p.Spec.AllowedAuthMethods)
	}
	if len(p.Spec.AllowedAuthorities) > 0 {
		r.AllowedAuthorities = plainStrings(p.Spec.AllowedAuthorities)
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

func owners(o *keywardv1.OwnerRules) *policy.Owners {
	if o == nil {
		return nil
	}
	out := &policy.Owners{Allowed: plainStrings(o.Allowed)}
	if r := o.FromRequester; r != nil {
		form := policy.FormUsername
		if r.Form == keywardv1.OwnerFormLocalPart {
			form = policy.FormLocalPart
		}
		out.FromRequester = &policy.Requester{Form: form, StripPrefix: r.StripPrefix, Domain: r.Domain}
	}
	return out
}

func ceiling(c *keywardv1.RateLimitCeiling) *policy.Ceiling {
	if c == nil {
		return nil
	}
	out := &policy.Ceiling{Limit: c.Limit, Period: time.Duration(c.PeriodSeconds) * time.Second}
	if c.MaxBurst != nil {
		out.MaxBurst = *c.MaxBurst
	}
	return out
}

// AnomalyResponse converts spec.anomalyResponse of a key or a policy.
func AnomalyResponse(r *keywardv1.AnomalyResponse) policy.AnomalyResponse {
	if r == nil {
		return nil
	}
	out := policy.AnomalyResponse{}
	for d, a := range map[analytics.Detector]*keywardv1.AnomalyAction{
		analytics.Silence: r.Silence, analytics.NewLocation: r.NewLocation, analytics.Volume: r.Volume, analytics.Denials: r.Denials,
	} {
		if a == nil {
			continue
		}
		// The schema's enum admits only the four names.
		if action, err := policy.ParseAnomalyAction(string(*a)); err == nil && action != policy.AnomalyUnset {
			out[d] = action
		}
	}
	return out
}
