package keyspec

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/policy"
)

// PoliciesFor returns the rules of every KeyPolicy that selects namespace.
func PoliciesFor(ctx context.Context, r client.Reader, namespace string) ([]policy.Rules, error) {
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return nil, fmt.Errorf("reading namespace %q: %w", namespace, err)
	}
	list := &keywardv1.KeyPolicyList{}
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
		rules, err := Rules(p)
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
	Parent *keywardv1.APIKey
	// Missing names a parent that does not exist (or is being deleted).
	Missing string
	// Revoked and Suspended name the nearest ancestor in that state.
	Revoked, Suspended string
	// Cycle or TooDeep describe a chain keyward refuses.
	Cycle, TooDeep bool
}

// Ancestors walks up from key's parent, at most policy.MaxDelegationDepth
// steps.
func Ancestors(ctx context.Context, r client.Reader, key *keywardv1.APIKey) (Ancestry, error) {
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
		parent := &keywardv1.APIKey{}
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
