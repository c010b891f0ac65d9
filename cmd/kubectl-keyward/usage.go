package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func init() { Register(newUsageCommand) }

func newUsageCommand(r *Root) *cobra.Command {
	cmd := keyCommand(r, "usage", "Show a key's quota spending in the current period",
		"  kubectl keyward usage alice/k3ydqx2mzt4wbnpe",
		func(_ context.Context, _ client.Client, k *keywardv1.APIKey) error {
			q := k.Status.Quota
			if q == nil {
				if k.Spec.RateLimit == nil || k.Spec.RateLimit.Quota == nil {
					r.Messagef("apikey/%s has no quota (spec.rateLimit.quota): there is no spending to show", k.Name)
				} else {
					r.Messagef("apikey/%s: no verifier has reported its spending yet", k.Name)
				}
				return nil
			}
			w := r.Streams.Out
			fmt.Fprintf(w, "Key:       %s (%s)\n", terminalText(k.Name), terminalText(k.Status.Prefix))
			fmt.Fprintf(w, "Used:      %d\n", q.Used)
			fmt.Fprintf(w, "Remaining: %d\n", q.Remaining)
			fmt.Fprintf(w, "Resets:    %s\n", orNone(timeOrNone(q.ResetTime)))
			fmt.Fprintf(w, "Reported:  %s\n", orNone(timeOrNone(q.ReportedTime)))
			return nil
		})
	cmd.Long = `usage prints the key's quota spending in the current period (status.quota),
as the verifiers last reported it. Request analytics (counts per day, denials
by reason) are not built yet; until they are, usage shows only the quota.`
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
