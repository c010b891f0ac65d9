package main

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// waitSameKey polls the APIKey made or resolved as k until done says so
// or timeout passes. It fails as soon as the name no longer belongs to k
// (deleted, or deleted and created again by anyone who may edit the
// namespace), so that nothing another object says (its Secret, its key)
// passes for k's.
func waitSameKey(ctx context.Context, c client.Client, k *keywardv1.APIKey, timeout time.Duration, done func(*keywardv1.APIKey) bool) (*keywardv1.APIKey, error) {
	var current keywardv1.APIKey
	err := pollUntil(ctx, timeout, func() (bool, error) {
		if err := getSameKey(ctx, c, k, &current); err != nil {
			return false, err
		}
		return done(&current), nil
	})
	if err != nil {
		return nil, err
	}
	return &current, nil
}

// getSameKey reads k again into into, or fails if its name is gone or
// names another object now.
func getSameKey(ctx context.Context, c client.Client, k *keywardv1.APIKey, into *keywardv1.APIKey) error {
	err := c.Get(ctx, client.ObjectKeyFromObject(k), into)
	if apierrors.IsNotFound(err) || (err == nil && into.UID != k.UID) {
		return errReplaced(k)
	}
	return err
}

func errReplaced(k *keywardv1.APIKey) error {
	return fmt.Errorf("apikey/%s (UID %s) was deleted, or deleted and created again, while waiting: nothing of another object is used", k.Name, k.UID)
}
