package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/keyspec"
)

// applyPolicy works out the scopes the key holds (its own, or its role's)
// and re-checks it against today's KeyPolicies and its parent keys: the
// webhook checked it at admission, but policies and parents change later.
// A revoked or deleted ancestor revokes the key; a suspended ancestor, a
// broader-than-parent key and a violated policy in Suspend mode suspend it.
func (r *APIKeyReconciler) applyPolicy(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	rules, err := r.policiesFor(ctx, s.key.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	pk := keyspec.PolicyKey(s.key, s.now)
	// Without the request that created the key, an owner binding can only
	// tell keys created before it, which nobody checked.
	pk.Created = s.key.CreationTimestamp.Time
	set, violations := policy.Evaluate(pk, rules, r.DefaultAllow)
	s.policies, s.policyKey = rules, pk
	s.suspendLeaked = suspendLeakedKeys(rules)
	s.scopes = set.Strings()
	s.key.Status.Scopes = s.scopes

	ancestry, err := keyspec.Ancestors(ctx, r.Client, s.key)
	if err != nil {
		return ctrl.Result{}, err
	}
	switch {
	case ancestry.Cycle || ancestry.TooDeep:
		violations = append(violations, policy.Violation{Field: "spec.parent", Suspend: true,
			Message: fmt.Sprintf("the chain of parent keys loops or is deeper than %d", policy.MaxDelegationDepth)})
	case ancestry.Parent != nil && set != nil:
		parent, err := keyspec.PolicyParent(ancestry.Parent, s.now)
		if err != nil {
			return ctrl.Result{}, err
		}
		violations = append(violations, policy.Delegation(pk, set, parent)...)
	}
	s.recordViolations(violations)

	if s.state == record.Revoked || s.state == record.Expired {
		return ctrl.Result{}, nil
	}
	replaced := false
	if p := ancestry.Parent; p != nil {
		if s.key.Status.ParentUID == "" {
			s.key.Status.ParentUID = string(p.UID)
		}
		replaced = s.key.Status.ParentUID != string(p.UID)
	}
	switch {
	case replaced:
		s.revokeBy(keywardv1.ParentReplacedReason, fmt.Sprintf("Parent key %q was deleted and re-created: this delegated key followed only the parent it was created under, and is revoked.", s.key.Spec.Parent.Name))
	case ancestry.Missing != "" && s.key.Spec.Parent != nil:
		s.revokeBy(keywardv1.ParentRevokedReason, fmt.Sprintf("Parent key %q is gone, so this delegated key is revoked.", ancestry.Missing))
	case ancestry.Revoked != "":
		s.revokeBy(keywardv1.ParentRevokedReason, fmt.Sprintf("Parent key %q is revoked, so this delegated key is revoked.", ancestry.Revoked))
	case s.state == record.Suspended:
	case ancestry.Suspended != "":
		s.suspendBy(keywardv1.ParentSuspendedReason, fmt.Sprintf("Parent key %q is suspended, so this delegated key is suspended.", ancestry.Suspended))
	case suspends(violations):
		s.suspendBy(keywardv1.PolicyViolatedReason, "The key is suspended until it complies: "+joinViolations(violations, true)+".")
	}
	return ctrl.Result{}, nil
}

// policiesFor reads the KeyPolicies of a namespace from the cache and,
// when the cache has none and keys need one (--default-policy=deny), from
// the API server: a policy applied together with its keys (kubectl apply
// -f dir, one Argo CD sync) may not have reached the cache when the first
// key is reconciled, and concluding "no policy" would publish that key
// without scopes until the policy arrives.
func (r *APIKeyReconciler) policiesFor(ctx context.Context, namespace string) ([]policy.Rules, error) {
	rules, err := keyspec.PoliciesFor(ctx, r.Client, namespace)
	if err != nil || len(rules) > 0 || r.DefaultAllow || r.APIReader == nil {
		return rules, err
	}
	return keyspec.PoliciesFor(ctx, r.APIReader, namespace)
}

func (s *apiKeyState) recordViolations(vs []policy.Violation) {
	s.key.Status.ViolatedPolicies = violatedPolicies(vs)
	if len(vs) == 0 {
		s.setCondition(keywardv1.PolicyViolationCondition, metav1.ConditionFalse, keywardv1.CompliantReason,
			"Every KeyPolicy that applies, and the parent key, allow this key.")
		return
	}
	s.setCondition(keywardv1.PolicyViolationCondition, metav1.ConditionTrue, keywardv1.PolicyViolatedReason,
		joinViolations(vs, false)+".")
}

func (s *apiKeyState) revokeBy(reason, msg string) {
	s.state, s.stateReason, s.stateMessage = record.Revoked, reason, msg
	if s.key.Status.RevokedTime == nil {
		s.key.Status.RevokedTime = &metav1.Time{Time: s.now}
	}
}

func (s *apiKeyState) suspendBy(reason, msg string) {
	s.state, s.stateReason, s.stateMessage = record.Suspended, reason, msg
}

// maxViolatedPolicies is status.violatedPolicies' MaxItems: a key refused
// by more policies than that names the first ones (the condition's message
// still names them all) rather than fail its status update.
const maxViolatedPolicies = 256

// violatedPolicies are the KeyPolicies among vs, sorted and each once.
func violatedPolicies(vs []policy.Violation) []string {
	var names []string
	for _, v := range vs {
		if v.Policy != "" {
			names = append(names, v.Policy)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > maxViolatedPolicies {
		names = names[:maxViolatedPolicies]
	}
	return names
}

func suspends(vs []policy.Violation) bool {
	for _, v := range vs {
		if v.Suspend {
			return true
		}
	}
	return false
}

func joinViolations(vs []policy.Violation, onlySuspending bool) string {
	var parts []string
	for _, v := range vs {
		if !onlySuspending || v.Suspend {
			parts = append(parts, v.String())
		}
	}
	return strings.Join(parts, "; ")
}
