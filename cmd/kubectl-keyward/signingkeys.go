package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func init() {
	Register(newKeysCommand)
	Register(newEvictCommand)
}

func newKeysCommand(r *Root) *cobra.Command {
	var owner, output string
	cmd := &cobra.Command{
		Use:   "keys --owner OWNER",
		Short: "List one owner's enrolled client SigningKeys (mode Client)",
		Example: `  kubectl keyward keys --owner alice
  kubectl keyward keys --owner alice -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, err := r.Target()
			if err != nil {
				return err
			}
			var list keywardv1.SigningKeyList
			if err := c.List(commandContext(cmd), &list, client.InNamespace(ns), client.MatchingFields{ownerField: owner}); err != nil {
				return err
			}
			var objs []client.Object
			for i := range list.Items {
				if list.Items[i].Spec.Mode == keywardv1.SigningKeyModeClient {
					objs = append(objs, &list.Items[i])
				}
			}
			if done, err := printObjects(r.Streams.Out, output, objs); done || err != nil {
				return err
			}
			if len(objs) == 0 {
				r.Messagef("no client SigningKeys of owner %q in namespace %q", owner, ns)
				return nil
			}
			t := newTable(r.Streams.Out, false, output == "wide",
				[]string{"NAME", "OWNER", "APIKEY", "KID", "READY", "LAST-EVICTION", "AGE"},
				[]string{"ALGORITHM", "MESSAGE"})
			for _, obj := range objs {
				k := obj.(*keywardv1.SigningKey)
				var status, message, apiKey string
				if ready := meta.FindStatusCondition(k.Status.Conditions, keywardv1.ReadyCondition); ready != nil {
					status, message = string(ready.Status), ready.Message
				}
				if k.Spec.Client != nil {
					apiKey = k.Spec.Client.APIKeyName
				}
				t.row("", []string{k.Name, k.Spec.Owner, apiKey, k.Status.KID, status, timeOrNone(k.Status.LastEvictionTime), age(k.CreationTimestamp)},
					[]string{string(k.Status.Algorithm), message})
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&owner, "owner", "", "the owner whose enrolled keys to list (spec.owner)")
	_ = cmd.MarkFlagRequired("owner")
	addOutputFlag(cmd, &output)
	return cmd
}

func newEvictCommand(r *Root) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "evict SIGNINGKEY",
		Short: "Make the verifier forget a client key's replay and clock-skew state",
		Long: `evict is the way back in for a client locked out after its clock jumped:
the verifier forgets the client SigningKey's assertion replay cache and
clock-skew state within a second. The key stays enrolled.`,
		Example:           "  kubectl keyward evict alice-laptop",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeSigningKeyNames(r),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := r.Target()
			if err != nil {
				return err
			}
			ctx := commandContext(cmd)
			var k keywardv1.SigningKey
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: args[0]}, &k); err != nil {
				return err
			}
			if k.Spec.Mode != keywardv1.SigningKeyModeClient {
				return fmt.Errorf("signingkey/%s is an %s key: only Client keys have verifier state to evict", k.Name, k.Spec.Mode)
			}
			if k.Status.Eviction == "" {
				// keyward evicts only from the state it enrolled: a request
				// before enrollment would be taken as the starting value
				// and evict nothing, while the plugin reported success.
				return fmt.Errorf("signingkey/%s is not enrolled yet (keyward has not published it; kubectl describe signingkey %s says why): the verifier holds no state of it to evict", k.Name, k.Name)
			}
			// The annotation, as for rotate: spec.evict belongs to GitOps.
			if err := patchObject(ctx, c, "signingkey", &k, func(k *keywardv1.SigningKey) {
				if k.Annotations == nil {
					k.Annotations = map[string]string{}
				}
				k.Annotations[keywardv1.EvictAnnotation] = time.Now().UTC().Format(time.RFC3339Nano)
			}); err != nil {
				return err
			}
			if timeout == 0 {
				r.Messagef("signingkey/%s: eviction requested", k.Name)
				return nil
			}
			want := k.EvictionRequest()
			err = pollUntil(ctx, timeout, func() (bool, error) {
				if err := c.Get(ctx, client.ObjectKeyFromObject(&k), &k); err != nil {
					return false, err
				}
				return k.Status.Eviction == want, nil
			})
			if err != nil {
				return fmt.Errorf("signingkey/%s: eviction requested, but keyward did not pass it to the verifier within %s: %w", k.Name, timeout, err)
			}
			r.Messagef("signingkey/%s evicted: the verifier forgets its replay and clock-skew state", k.Name)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for keyward to pass the eviction on; 0 does not wait")
	return cmd
}

func completeSigningKeyNames(r *Root) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, ns, err := r.Target()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var list keywardv1.SigningKeyList
		if err := c.List(commandContext(cmd), &list, client.InNamespace(ns)); err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []cobra.Completion
		for _, k := range list.Items {
			if k.Spec.Mode == keywardv1.SigningKeyModeClient {
				names = append(names, k.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
