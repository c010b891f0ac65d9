package webhook

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// cacheThenLive reads from the manager's cache and, for an object the cache
// does not have, asks the API server. A namespace or a parent key created a
// moment before the key being admitted may not have reached the cache yet;
// answering "not found" would refuse a correct manifest applied in one go.
// Lists come from the cache only: they can only miss, never invent.
type cacheThenLive struct {
	cache client.Reader
	live  client.Reader
}

func (r cacheThenLive) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := r.cache.Get(ctx, key, obj, opts...)
	if apierrors.IsNotFound(err) {
		return r.live.Get(ctx, key, obj, opts...)
	}
	return err
}

func (r cacheThenLive) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return r.cache.List(ctx, list, opts...)
}
