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
//
// Lists (of KeyPolicies, the only ones the validators make) go to the API
// server: a list from the cache can miss a policy created a moment ago,
// and a missed policy is a rule not enforced, such as an owner binding
// (which the manager's re-check cannot make up for, since it never knows
// who created a key) or the only policy that lets keys into a namespace
// under --default-policy=deny. Keys are admitted rarely; one list of a
// few cluster-scoped objects each time costs little.
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
	return r.live.List(ctx, list, opts...)
}
