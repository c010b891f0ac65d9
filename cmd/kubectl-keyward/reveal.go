package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
)

func init() { Register(NewRevealCommand) }

// The delivery Secret's fields and annotation the plugin reads, as the
// manager writes them (a test keeps them equal to the controllers').
const (
	deliveryRevealedField   = "revealed"
	deliveryRevealedAtField = "revealedAt"
	generationAnnotation    = "keyward.dev/generation"
)

// NewRevealCommand is `kubectl keyward reveal`: print a key from its
// delivery Secret and, for a key with spec.delivery.revealOnce, have
// keyward remove it from there.
func NewRevealCommand(r *Root) *cobra.Command {
	var timeout time.Duration
	cmd := keyCommand(r, "reveal", "Print a key; a key shown once (spec.delivery.revealOnce) then leaves its Secret",
		`  kubectl keyward reveal alice/k3yd9qx2abcdefgh
  KEYWARD_KEY="$(kubectl keyward reveal payments-api)"`,
		func(ctx context.Context, c client.Client, k *keywardv1.APIKey) error {
			return reveal(ctx, r, c, k, timeout)
		})
	cmd.Long = `reveal reads the key from its delivery Secret with your credentials and
prints it alone on stdout; messages go to stderr.

For a key with spec.delivery.revealOnce it then annotates the APIKey with
the generation of the secret it printed (keyward.dev/revealed) and waits
until keyward has removed the key from the Secret, which then holds only
the key ID and the fact that it was revealed. The key keeps verifying. A
key already revealed cannot be revealed again: rotate it to deliver a new
one, once.`
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for keyward to remove a key shown once from its Secret")
	return cmd
}

func reveal(ctx context.Context, r *Root, c client.Client, k *keywardv1.APIKey, timeout time.Duration) error {
	switch {
	case isRevoked(k):
		return fmt.Errorf("apikey/%s is revoked: there is no key to reveal", k.Name)
	case k.Status.KeyID == "" || k.Status.SecretName == "":
		return fmt.Errorf("apikey/%s has not been issued yet: wait until it is Ready (kubectl keyward describe %s)", k.Name, k.Name)
	case k.RevealOnce() && k.Status.Delivery != nil && k.Status.Delivery.RevealedTime != nil:
		return alreadyRevealed(k, k.Status.Delivery.RevealedTime.UTC().Format(time.RFC3339))
	}
	secret, err := deliverySecret(ctx, c, k)
	if err != nil {
		return err
	}
	if _, held := secret.Data[deliveryKeyField]; !held && string(secret.Data[deliveryRevealedField]) == "true" {
		return alreadyRevealed(k, string(secret.Data[deliveryRevealedAtField]))
	}
	key, err := deliveredKeyIn(secret, k)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(r.Streams.Out, key.Plaintext()); err != nil {
		return err
	}
	if !k.RevealOnce() {
		r.Messagef("apikey/%s: the key stays readable in Secret %q (spec.delivery.revealOnce is off)", k.Name, secret.Name)
		return nil
	}
	return markRevealed(ctx, r, c, k, secret, key, timeout)
}

// markRevealed tells keyward that the key printed from secret was read,
// and waits until keyward has removed it from there.
func markRevealed(ctx context.Context, r *Root, c client.Client, k *keywardv1.APIKey, secret *corev1.Secret, key keys.Key, timeout time.Duration) error {
	// The generation written beside the key just printed: status may not
	// have caught up with a rotation yet, and naming another generation
	// would change nothing.
	gen := secret.Annotations[generationAnnotation]
	if _, err := strconv.ParseInt(gen, 10, 64); err != nil {
		gen = strconv.FormatInt(k.Status.SecretGeneration, 10)
	}
	if err := patchKey(ctx, c, k, func(k *keywardv1.APIKey) {
		if k.Annotations == nil {
			k.Annotations = map[string]string{}
		}
		k.Annotations[keywardv1.RevealedAnnotation] = gen
	}); err != nil {
		return fmt.Errorf("the key was printed, but telling keyward it was revealed failed: %w", err)
	}
	err := pollUntil(ctx, timeout, func() (bool, error) {
		var now corev1.Secret
		if err := c.Get(ctx, client.ObjectKeyFromObject(secret), &now); err != nil {
			return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
		}
		return !holds(&now, key), nil
	})
	switch {
	case wait.Interrupted(err):
		return fmt.Errorf("the key was printed, but keyward did not remove it from Secret %q within %s: is the manager running? (kubectl keyward check)", secret.Name, timeout)
	case err != nil:
		return err
	}
	r.Messagef("apikey/%s: the key was revealed; Secret %q no longer holds it. It keeps verifying; rotate it to deliver a new one, once.", k.Name, secret.Name)
	return nil
}

// holds reports whether the Secret still has the key in any field.
func holds(s *corev1.Secret, key keys.Key) bool {
	for _, v := range s.Data {
		if got, err := keys.ParseFor(key.ID(), string(v)); err == nil && got.Equal(key) {
			return true
		}
	}
	return false
}

func alreadyRevealed(k *keywardv1.APIKey, at string) error {
	return fmt.Errorf("apikey/%s was already revealed (at %s) and is shown only once; its Secret holds only its key ID. To get a new key, rotate it: kubectl keyward rotate %s", k.Name, at, k.Name)
}
