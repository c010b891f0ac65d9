package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/keyspec"
)

// +kubebuilder:webhook:path=/validate-keyward-dev-v1alpha1-keypolicy,mutating=false,failurePolicy=fail,sideEffects=None,groups=keyward.dev,resources=keypolicies,verbs=create;update,versions=v1alpha1,name=vkeypolicy.keyward.dev,admissionReviewVersions=v1

// KeyPolicyValidator checks what the schema cannot: the selector, and that
// roles and allowed scopes agree.
type KeyPolicyValidator struct {
	Reader client.Reader
	// Cache, when set, lets a new owner binding warn about the existing
	// keys it will flag; a count from the cache is enough for a warning.
	Cache client.Reader
}

var _ admission.Validator[*keywardv1.KeyPolicy] = &KeyPolicyValidator{}

// ValidateCreate checks a new policy.
func (v *KeyPolicyValidator) ValidateCreate(ctx context.Context, p *keywardv1.KeyPolicy) (admission.Warnings, error) {
	warnings, err := v.validate(ctx, p)
	if err == nil {
		warnings = append(warnings, v.unverifiedOwners(ctx, p)...)
	}
	return warnings, err
}

// unverifiedOwners warns, when a policy binds owners to requesters, about
// the keys already in its namespaces whose owner it does not list:
// nobody can tell who created them, so the manager will report them, or
// suspend them with enforcement: Suspend, until they are recreated.
func (v *KeyPolicyValidator) unverifiedOwners(ctx context.Context, p *keywardv1.KeyPolicy) admission.Warnings {
	if v.Cache == nil || p.Spec.Owners == nil || p.Spec.Owners.FromRequester == nil {
		return nil
	}
	namespaces := &corev1.NamespaceList{}
	if err := v.Cache.List(ctx, namespaces); err != nil {
		return nil
	}
	allowed := func(owner string) bool {
		for _, pattern := range p.Spec.Owners.Allowed {
			if policy.MatchOwner(string(pattern), owner) {
				return true
			}
		}
		return false
	}
	n := 0
	for _, ns := range namespaces.Items {
		if ok, err := p.Selects(ns.Labels); err != nil || !ok {
			continue
		}
		keys := &keywardv1.APIKeyList{}
		if err := v.Cache.List(ctx, keys, client.InNamespace(ns.Name)); err != nil {
			return nil
		}
		for _, k := range keys.Items {
			if !allowed(k.Spec.Owner) {
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	what := "report them (PolicyViolation)"
	if p.Spec.Enforcement == keywardv1.EnforcementSuspend {
		what = "suspend them"
	}
	return admission.Warnings{fmt.Sprintf("spec.owners.fromRequester: %d existing APIKeys in the selected namespaces have owners nobody checked against the user who created them; keyward will %s until they are recreated", n, what)}
}

// ValidateUpdate checks a changed policy.
func (v *KeyPolicyValidator) ValidateUpdate(ctx context.Context, _, p *keywardv1.KeyPolicy) (admission.Warnings, error) {
	return v.validate(ctx, p)
}

// ValidateDelete admits every deletion.
func (v *KeyPolicyValidator) ValidateDelete(context.Context, *keywardv1.KeyPolicy) (admission.Warnings, error) {
	return nil, nil
}

func (v *KeyPolicyValidator) validate(_ context.Context, p *keywardv1.KeyPolicy) (admission.Warnings, error) {
	var errs field.ErrorList
	if _, err := metav1.LabelSelectorAsSelector(&p.Spec.NamespaceSelector); err != nil {
		errs = append(errs, field.Invalid(field.NewPath("spec", "namespaceSelector"), p.Spec.NamespaceSelector, err.Error()))
	}
	rules, err := keyspec.Rules(p)
	if err != nil {
		errs = append(errs, field.Invalid(field.NewPath("spec"), p.Name, err.Error()))
	} else if rules.AllowedScopes != nil {
		// A role the policy itself would refuse could never be used.
		for i, role := range p.Spec.Roles {
			for j, s := range rules.Roles[role.Name] {
				if !rules.AllowedScopes.Covers([]scopeT{s}) {
					errs = append(errs, field.Forbidden(field.NewPath("spec", "roles").Index(i).Child("scopes").Index(j),
						fmt.Sprintf("scope %q of role %q is outside this policy's allowedScopes", s, role.Name)))
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(keywardv1.GroupVersion.WithKind("KeyPolicy").GroupKind(), p.Name, errs)
	}
	var warnings admission.Warnings
	if len(p.Spec.NamespaceSelector.MatchLabels) == 0 && len(p.Spec.NamespaceSelector.MatchExpressions) == 0 {
		warnings = append(warnings, "spec.namespaceSelector is empty: this policy applies to every namespace")
	}
	return warnings, nil
}
