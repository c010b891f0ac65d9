package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func init() { Register(newUsageCommand) }

func newUsageCommand(r *Root) *cobra.Command {
	cmd := keyCommand(r, "usage", "Show a key's traffic over the last hour and day, and its quota spending",
		"  kubectl keyward usage alice/k3ydqx2mzt4wbnpe",
		func(_ context.Context, _ client.Client, k *keywardv1.APIKey) error {
			w := printers.GetNewTabWriter(r.Streams.Out)
			fmt.Fprintf(w, "Key:\t%s (%s)\n", terminalText(k.Name), terminalText(k.Status.Prefix))
			for _, f := range usageFields(k.Status.Usage) {
				fmt.Fprintf(w, "%s:\t%s\n", f[0], terminalText(f[1]))
			}
			if q := k.Status.Quota; q != nil {
				fmt.Fprintf(w, "Quota Used:\t%d\n", q.Used)
				fmt.Fprintf(w, "Quota Remaining:\t%d\n", q.Remaining)
				fmt.Fprintf(w, "Quota Resets:\t%s\n", orNone(timeOrNone(q.ResetTime)))
				fmt.Fprintf(w, "Quota Reported:\t%s\n", orNone(timeOrNone(q.ReportedTime)))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			switch {
			case k.Status.Quota != nil:
			case k.Spec.RateLimit == nil || k.Spec.RateLimit.Quota == nil:
				r.Messagef("apikey/%s has no quota (spec.rateLimit.quota)", k.Name)
			default:
				r.Messagef("apikey/%s: no verifier has reported its quota spending yet", k.Name)
			}
			return nil
		})
	cmd.Long = `usage prints how the key was used (status.usage): when it was last used,
its requests and denials over the last hour and day with the error rate, the
most frequent denial reasons, countries and source networks. The manager
writes it from what the verifiers count, at most once a minute. It also
prints the key's quota spending in the current period (status.quota).

Prometheus metrics carry no per-key labels: this, and kubectl describe
apikey, are how to see one key's traffic.`
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
