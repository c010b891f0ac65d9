package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// Field selectors on what only keyward writes (status), never on labels:
// anyone who may edit an APIKey may set its labels, and could make a
// forged key answer to another key's prefix.
const (
	ownerField  = "spec.owner"
	prefixField = "status.prefix"
	keyIDField  = "status.keyID"
)

// ResolveKey finds the APIKey an argument names in namespace ns: a prefix
// "<owner>/<keyID>", or a name or key ID. It looks in ns only: a key of
// another namespace is "not found here", whatever the user may see there,
// so the answer never depends on other namespaces' keys.
func ResolveKey(ctx context.Context, c client.Client, ns, arg string) (*keywardv1.APIKey, error) {
	if arg == "" {
		return nil, fmt.Errorf("no key given: name an APIKey, a prefix <owner>/<keyID> or a key ID")
	}
	if strings.Contains(arg, "/") {
		keys, err := keysWhere(ctx, c, ns, prefixField, arg)
		if err != nil {
			return nil, err
		}
		return exactlyOne(keys, ns, fmt.Sprintf("prefix %q", arg))
	}
	var candidates []keywardv1.APIKey
	if len(validation.IsDNS1123Subdomain(arg)) == 0 {
		var byName keywardv1.APIKey
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: arg}, &byName)
		switch {
		case err == nil:
			candidates = append(candidates, byName)
		case !apierrors.IsNotFound(err):
			return nil, err
		}
	}
	byKeyID, err := keysWhere(ctx, c, ns, keyIDField, arg)
	if err != nil {
		return nil, err
	}
	for _, k := range byKeyID {
		// A key whose name is its own key ID is one key, not two.
		if len(candidates) == 1 && candidates[0].UID == k.UID {
			continue
		}
		candidates = append(candidates, k)
	}
	return exactlyOne(candidates, ns, fmt.Sprintf("name or key ID %q", arg))
}

func keysWhere(ctx context.Context, c client.Client, ns, field, value string) ([]keywardv1.APIKey, error) {
	var list keywardv1.APIKeyList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{field: value}); err != nil {
		return nil, fmt.Errorf("listing APIKeys by %s: %w", field, err)
	}
	return list.Items, nil
}

// exactlyOne refuses no match and several matches alike: acting on one of two keys
// that answer to the same prefix or ID would be a guess, and a wrong guess
// could revoke the wrong key.
func exactlyOne(keys []keywardv1.APIKey, ns, what string) (*keywardv1.APIKey, error) {
	switch len(keys) {
	case 1:
		return &keys[0], nil
	case 0:
		return nil, fmt.Errorf("no APIKey with %s in namespace %q (a key of another namespace is not found here: pass --namespace)", what, ns)
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%s matches %d APIKeys in namespace %q: %s; name one of them", what, len(keys), ns, strings.Join(names, ", "))
}

// completeKeyNames completes the first argument with the names of the
// APIKeys of the namespace.
func completeKeyNames(r *Root) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, ns, err := r.Target()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var list keywardv1.APIKeyList
		if err := c.List(commandContext(cmd), &list, client.InNamespace(ns)); err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []cobra.Completion
		for _, k := range list.Items {
			if strings.HasPrefix(k.Name, toComplete) {
				names = append(names, k.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
