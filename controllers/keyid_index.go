package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// KeyIDIndex indexes APIKeys by status.keyID, which only keyward writes:
// the verifiers' activity names keys by ID, and a label would be forgeable.
const KeyIDIndex = "status.keyID"

// IndexKeyIDs registers KeyIDIndex. Register it once per manager, whatever
// part needs it: the cache refuses a second index of one name.
func IndexKeyIDs(ctx context.Context, indexer client.FieldIndexer) error {
	return indexer.IndexField(ctx, &keywardv1.APIKey{}, KeyIDIndex, func(o client.Object) []string {
		if id := o.(*keywardv1.APIKey).Status.KeyID; id != "" {
			return []string{id}
		}
		return nil
	})
}

// apiKeyOfID is the APIKey that holds keyID, from the cache; nil when none
// does. A key ID belongs to one object for life, so there is at most one.
// The object is the cache's own: callers only read it.
func apiKeyOfID(ctx context.Context, c client.Reader, keyID string) (*keywardv1.APIKey, error) {
	list := &keywardv1.APIKeyList{}
	if err := c.List(ctx, list, client.MatchingFields{KeyIDIndex: keyID}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].Status.KeyID == keyID {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}
