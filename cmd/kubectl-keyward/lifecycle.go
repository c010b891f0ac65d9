package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func init() {
	Register(newRotateCommand)
	Register(newSuspendCommand)
	Register(newResumeCommand)
	Register(newRevokeCommand)
	Register(newDeleteCommand)
}

// keyCommand is a command on one key named by its first argument.
func keyCommand(r *Root, use, short, example string, run func(ctx context.Context, c client.Client, k *keywardv1.APIKey) error) *cobra.Command {
	return &cobra.Command{
		Use:               use + " NAME | OWNER/KEYID | KEYID",
		Short:             short,
		Example:           example,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeKeyNames(r),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := r.Target()
			if err != nil {
				return err
			}
			ctx := commandContext(cmd)
			k, err := ResolveKey(ctx, c, ns, args[0])
			if err != nil {
				return err
			}
			return run(ctx, c, k)
		},
	}
}

// patchKey applies change to k as a merge patch of only what changed,
// under the plugin's field manager. The patch carries k's UID, which the
// API server checks: if the name now belongs to another key (deleted and
// re-created since it was resolved), nothing is changed.
func patchKey(ctx context.Context, c client.Client, k *keywardv1.APIKey, change func(*keywardv1.APIKey)) error {
	return patchObject(ctx, c, "apikey", k, change)
}

// patchObject is patchKey for any kind; kind names it in errors.
func patchObject[T client.Object](ctx context.Context, c client.Client, kind string, obj T, change func(T)) error {
	before := obj.DeepCopyObject().(client.Object)
	change(obj)
	data, err := client.MergeFrom(before).Data(obj)
	if err != nil {
		return err
	}
	var patch map[string]any
	if err := json.Unmarshal(data, &patch); err != nil {
		return err
	}
	metadata, _ := patch["metadata"].(map[string]any)
	if metadata == nil {
		metadata = map[string]any{}
		patch["metadata"] = metadata
	}
	metadata["uid"] = string(before.GetUID())
	if data, err = json.Marshal(patch); err != nil {
		return err
	}
	err = c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, data), client.FieldOwner(FieldManager))
	if uidChanged(err) {
		return fmt.Errorf("%s/%s was deleted and created again after it was looked up: nothing changed; run the command again to act on the new one", kind, before.GetName())
	}
	return err
}

// uidChanged: the API server refused the patch's UID as a change of the
// immutable metadata.uid, so the object is another one now.
func uidChanged(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, cause := range status.Status().Details.Causes {
		if cause.Field == "metadata.uid" {
			return true
		}
	}
	return false
}

func isRevoked(k *keywardv1.APIKey) bool { return k.Spec.Revoked || k.Status.RevokedTime != nil }

func newRotateCommand(r *Root) *cobra.Command {
	var timeout time.Duration
	var yes bool
	cmd := keyCommand(r, "rotate", "Replace a key's secret now; the previous one verifies for the grace period (asks first unless --yes)",
		`  kubectl keyward rotate payments-api
  kubectl keyward rotate alice/k3ydqx2mzt4wbnpe --timeout 0 --yes`,
		func(ctx context.Context, c client.Client, k *keywardv1.APIKey) error {
			if isRevoked(k) {
				return fmt.Errorf("apikey/%s is revoked: a revoked key is not rotated", k.Name)
			}
			if err := r.confirm(yes, fmt.Sprintf("Rotate apikey/%s (prefix %s) in namespace %s? %s", k.Name, k.Status.Prefix, k.Namespace, currentSecretEnd(k))); err != nil {
				return err
			}
			before := k.Status.SecretGeneration
			// The annotation, not spec.rotation.trigger: the API keeps the
			// trigger for GitOps, where a value written here would be
			// reverted (or fought over) by the tool that owns the spec.
			if err := patchKey(ctx, c, k, func(k *keywardv1.APIKey) {
				if k.Annotations == nil {
					k.Annotations = map[string]string{}
				}
				k.Annotations[keywardv1.RotateAnnotation] = time.Now().UTC().Format(time.RFC3339Nano)
			}); err != nil {
				return err
			}
			if timeout == 0 {
				r.Messagef("apikey/%s: rotation requested", k.Name)
				return nil
			}
			rotated, err := waitSameKey(ctx, c, k, timeout, func(k *keywardv1.APIKey) bool {
				return k.Status.SecretGeneration > before
			})
			if err != nil {
				return fmt.Errorf("apikey/%s: rotation requested, but the new secret was not issued within %s: %w", k.Name, timeout, err)
			}
			r.Messagef("apikey/%s rotated: secret generation %d is in Secret %q; the previous secret verifies until %s",
				rotated.Name, rotated.Status.SecretGeneration, rotated.Status.SecretName, timeOrNone(rotated.Status.PreviousSecretValidUntil))
			return nil
		})
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the new secret; 0 does not wait")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// currentSecretEnd says when the secret in use now stops verifying after a
// rotation: with no grace period, at once, which breaks every client that
// has not the new secret yet.
func currentSecretEnd(k *keywardv1.APIKey) string {
	grace := k.GracePeriod()
	if grace <= 0 {
		return "The current secret stops verifying AT ONCE (grace period 0): every client still using it is refused."
	}
	return fmt.Sprintf("The current secret stops verifying %s after the new one is issued (grace period).", grace)
}

func newSuspendCommand(r *Root) *cobra.Command {
	return keyCommand(r, "suspend", "Deny a key until it is resumed (the secret stays the same)",
		"  kubectl keyward suspend alice/k3ydqx2mzt4wbnpe",
		func(ctx context.Context, c client.Client, k *keywardv1.APIKey) error {
			if isRevoked(k) {
				return fmt.Errorf("apikey/%s is revoked: suspending changes nothing", k.Name)
			}
			if k.Spec.Suspended {
				r.Messagef("apikey/%s is already suspended", k.Name)
				return nil
			}
			if err := patchKey(ctx, c, k, func(k *keywardv1.APIKey) { k.Spec.Suspended = true }); err != nil {
				return err
			}
			r.Messagef("apikey/%s suspended", k.Name)
			return nil
		})
}

func newResumeCommand(r *Root) *cobra.Command {
	return keyCommand(r, "resume", "Let a suspended key verify again, with the same secret",
		"  kubectl keyward resume alice/k3ydqx2mzt4wbnpe",
		func(ctx context.Context, c client.Client, k *keywardv1.APIKey) error {
			if isRevoked(k) {
				return fmt.Errorf("apikey/%s is revoked: a revoked key cannot be resumed; create a new one", k.Name)
			}
			if !k.Spec.Suspended {
				if ready := meta.FindStatusCondition(k.Status.Conditions, keywardv1.ReadyCondition); ready != nil && ready.Status != metav1.ConditionTrue {
					// Denied for a reason resume cannot lift: say which.
					return fmt.Errorf("apikey/%s is not suspended in spec, but keyward denies it: %s: %s (resume lifts only a suspension by spec.suspended)",
						k.Name, ready.Reason, ready.Message)
				}
				r.Messagef("apikey/%s is not suspended", k.Name)
				return nil
			}
			if err := patchKey(ctx, c, k, func(k *keywardv1.APIKey) { k.Spec.Suspended = false }); err != nil {
				return err
			}
			r.Messagef("apikey/%s resumed", k.Name)
			return nil
		})
}

func newRevokeCommand(r *Root) *cobra.Command {
	var yes bool
	cmd := keyCommand(r, "revoke", "Revoke a key for good (asks first unless --yes)",
		`  kubectl keyward revoke alice/k3ydqx2mzt4wbnpe
  kubectl keyward revoke payments-api --yes`,
		func(ctx context.Context, c client.Client, k *keywardv1.APIKey) error {
			if isRevoked(k) {
				r.Messagef("apikey/%s is already revoked", k.Name)
				return nil
			}
			if err := r.confirm(yes, fmt.Sprintf("Revoke apikey/%s (prefix %s) in namespace %s? This cannot be undone.", k.Name, k.Status.Prefix, k.Namespace)); err != nil {
				return err
			}
			if err := patchKey(ctx, c, k, func(k *keywardv1.APIKey) { k.Spec.Revoked = true }); err != nil {
				return err
			}
			r.Messagef("apikey/%s revoked", k.Name)
			return nil
		})
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func newDeleteCommand(r *Root) *cobra.Command {
	var yes bool
	cmd := keyCommand(r, "delete", "Delete an APIKey and its delivery Secret (asks first unless --yes)",
		`  kubectl keyward delete payments-api
  kubectl keyward delete alice/k3ydqx2mzt4wbnpe --yes`,
		func(ctx context.Context, c client.Client, k *keywardv1.APIKey) error {
			if err := r.confirm(yes, fmt.Sprintf("Delete apikey/%s (prefix %s) in namespace %s? The key stops verifying.", k.Name, k.Status.Prefix, k.Namespace)); err != nil {
				return err
			}
			// The UID precondition: if the name now belongs to another key
			// (deleted and re-created since it was resolved), delete nothing.
			if err := c.Delete(ctx, k, client.Preconditions{UID: &k.UID}); err != nil {
				return err
			}
			r.Messagef("apikey/%s deleted", k.Name)
			return nil
		})
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}
