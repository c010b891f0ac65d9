package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

const (
	samplesReadyTimeout = 60 * time.Second
	pollInterval        = 250 * time.Millisecond
)

// applySamples goes through kubectl rather than the client: it is what the
// newcomer will type next, so it is what should be shown to work.
func applySamples(ctx context.Context, k kubectl, cp *controlPlane) error {
	fmt.Printf("applying %s to namespace %s:\n", samplesFile, samplesNamespace)
	if err := k.run(ctx, "apply", "-f", samplesFile, "-n", samplesNamespace); err != nil {
		return err
	}
	fmt.Println("waiting for the sample APIKeys to be Ready (each key is hashed with 600,000 PBKDF2 iterations)...")
	if err := poll(ctx, samplesReadyTimeout, func(ctx context.Context) error {
		return allAPIKeysReady(ctx, cp.admin, samplesNamespace)
	}); err != nil {
		return fmt.Errorf("waiting for the sample APIKeys: %w", err)
	}
	fmt.Println()
	return k.run(ctx, "get", "apikeys", "-n", samplesNamespace, "-o", "wide")
}

// allAPIKeysReady checks every APIKey in the namespace: on a fresh control
// plane those are exactly the samples just applied.
func allAPIKeysReady(ctx context.Context, c client.Client, namespace string) error {
	var list keywardv1.APIKeyList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("listing APIKeys: %w", err)
	}
	if len(list.Items) == 0 {
		return errors.New("no APIKeys found")
	}
	var notReady []string
	for _, key := range list.Items {
		if meta.IsStatusConditionTrue(key.Status.Conditions, keywardv1.ReadyCondition) {
			continue
		}
		desc := key.Name + ": no Ready condition yet"
		if c := meta.FindStatusCondition(key.Status.Conditions, keywardv1.ReadyCondition); c != nil {
			desc = fmt.Sprintf("%s: Ready=%s %s %s", key.Name, c.Status, c.Reason, c.Message)
		}
		notReady = append(notReady, desc)
	}
	if len(notReady) > 0 {
		return fmt.Errorf("not Ready: %s", strings.Join(notReady, "; "))
	}
	return nil
}

// poll runs check until it succeeds, the timeout passes or ctx ends, and
// then reports check's last complaint, which says what was still missing.
func poll(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("not done after %s: %w", timeout, err)
			}
			return fmt.Errorf("%w (last check: %v)", context.Cause(ctx), err)
		case <-ticker.C:
		}
	}
}
