package main

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// pollInterval is how often a waiting command asks the API server again.
const pollInterval = 200 * time.Millisecond

// pollUntil calls done until it says so, returns an error or timeout passes.
func pollUntil(ctx context.Context, timeout time.Duration, done func() (bool, error)) error {
	return wait.PollUntilContextTimeout(ctx, pollInterval, timeout, true, func(context.Context) (bool, error) { return done() })
}

// waitKey polls the APIKey until done says so or timeout passes.
func waitKey(ctx context.Context, c client.Client, key client.ObjectKey, timeout time.Duration, done func(*keywardv1.APIKey) bool) (*keywardv1.APIKey, error) {
	var k keywardv1.APIKey
	err := pollUntil(ctx, timeout, func() (bool, error) {
		if err := c.Get(ctx, key, &k); err != nil {
			return false, err
		}
		return done(&k), nil
	})
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// waitSameKey is waitKey for the APIKey made or resolved as k: it fails
// as soon as the name belongs to another object (k deleted and created
// again, by anyone who may edit the namespace), so that nothing the new
// object says (its Secret, its key) passes for k's.
func waitSameKey(ctx context.Context, c client.Client, k *keywardv1.APIKey, timeout time.Duration, done func(*keywardv1.APIKey) bool) (*keywardv1.APIKey, error) {
	var replaced bool
	got, err := waitKey(ctx, c, client.ObjectKeyFromObject(k), timeout, func(current *keywardv1.APIKey) bool {
		replaced = current.UID != k.UID
		return replaced || done(current)
	})
	if err == nil && replaced {
		return nil, errReplaced(k)
	}
	return got, err
}

func errReplaced(k *keywardv1.APIKey) error {
	return fmt.Errorf("apikey/%s was deleted and created again (UID %s is gone) while waiting: nothing of the new one is used", k.Name, k.UID)
}
