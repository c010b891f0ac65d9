package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func init() { Register(NewRevealCommand) }

// The delivery Secret's fields and annotation the plugin reads, as the
// manager writes them (a test keeps them equal to the controllers').
const (
	deliveryRevealedField   = "revealed"
	deliveryRevealedAtField = "revealedAt"
	generationAnnotation    = "keyward.dev/generation"
	serialAnnotation        = "keyward.dev/serial"
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
the serial of the secret it printed (keyward.dev/revealed) and waits
until keyward records the reveal in the APIKey's status; the Secret then
holds only the key ID and the fact that it was revealed. The key keeps
verifying. A key already revealed cannot be revealed again: rotate it to
deliver a new one, once. If a rotation replaced the key while it was
read, keyward stops delivering the printed key and reveal says so: run it
again for the new key.`
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
	return markRevealed(ctx, r, c, k, secret, timeout)
}

// markRevealed tells keyward that the secret printed from secret was
// read, and waits until the APIKey's status, which only keyward writes,
// says what became of it.
func markRevealed(ctx context.Context, r *Root, c client.Client, k *keywardv1.APIKey, secret *corev1.Secret, timeout time.Duration) error {
	// The serial and generation written beside the key just printed:
	// status may not have caught up with a rotation yet.
	serial := secret.Annotations[serialAnnotation]
	if serial == "" {
		return fmt.Errorf("the key was printed, but Secret %q does not say which secret it holds (no %s annotation), so keyward cannot be told it was revealed; it stays in the Secret", secret.Name, serialAnnotation)
	}
	gen, err := strconv.ParseInt(secret.Annotations[generationAnnotation], 10, 64)
	if err != nil {
		gen = k.Status.SecretGeneration
	}
	if err := patchKey(ctx, c, k, func(k *keywardv1.APIKey) {
		if k.Annotations == nil {
			k.Annotations = map[string]string{}
		}
		k.Annotations[keywardv1.RevealedAnnotation] = serial
	}); err != nil {
		return fmt.Errorf("the key was printed, but telling keyward it was revealed failed: %w", err)
	}
	got, err := waitSameKey(ctx, c, k, timeout, func(k *keywardv1.APIKey) bool {
		return k.Status.SecretGeneration > gen || revealedGeneration(k, gen)
	})
	switch {
	case wait.Interrupted(err):
		return fmt.Errorf("the key was printed, but keyward did not record the reveal in the status of apikey/%s within %s: is the manager running? (kubectl keyward check)", k.Name, timeout)
	case err != nil:
		return err
	case !revealedGeneration(got, gen):
		return fmt.Errorf("the key printed (generation %d) was replaced by generation %d while it was read: keyward no longer delivers it, and it verifies only until the rotation's grace period ends. Reveal the new key: kubectl keyward reveal %s", gen, got.Status.SecretGeneration, k.Name)
	}
	r.Messagef("apikey/%s: the key was revealed; Secret %q no longer holds it. It keeps verifying; rotate it to deliver a new one, once.", k.Name, secret.Name)
	return nil
}

// revealedGeneration reports whether status says the secret of generation
// gen is the current one and was revealed.
func revealedGeneration(k *keywardv1.APIKey, gen int64) bool {
	return k.Status.SecretGeneration == gen && k.Status.Delivery != nil && k.Status.Delivery.RevealedTime != nil
}

func alreadyRevealed(k *keywardv1.APIKey, at string) error {
	return fmt.Errorf("apikey/%s was already revealed (at %s) and is shown only once; its Secret holds only its key ID. To get a new key, rotate it: kubectl keyward rotate %s", k.Name, at, k.Name)
}
