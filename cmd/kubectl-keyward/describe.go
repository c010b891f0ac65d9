package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/liggitt/tabwriter"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func init() { Register(newDescribeCommand) }

// deliveryKeyField is the data key of the delivery Secret that holds the
// plaintext (controllers.DeliveryKeyField; a test keeps them equal, and
// the plugin does not link the manager's code).
const deliveryKeyField = "key"

// recentEvents is how many Events describe shows, newest last, as kubectl
// describe does.
const recentEvents = 10

func newDescribeCommand(r *Root) *cobra.Command {
	return keyCommand(r, "describe", "Show one APIKey: state, conditions, recent Events and where the key is delivered",
		`  kubectl keyward describe payments-api
  kubectl keyward describe alice/k3ydqx2mzt4wbnpe`,
		func(ctx context.Context, c client.Client, k *keywardv1.APIKey) error {
			events, err := keyEvents(ctx, c, k)
			if err != nil {
				// Events are a courtesy: a user who may read keys but not
				// Events still gets the key.
				r.Messagef("warning: cannot list Events: %v", err)
			}
			return describeKey(r.Streams.Out, k, events)
		})
}

func keyEvents(ctx context.Context, c client.Client, k *keywardv1.APIKey) ([]corev1.Event, error) {
	var list corev1.EventList
	if err := c.List(ctx, &list, client.InNamespace(k.Namespace),
		client.MatchingFields{"involvedObject.uid": string(k.UID)}); err != nil {
		return nil, err
	}
	events := list.Items
	sort.SliceStable(events, func(i, j int) bool {
		a, b := eventTimestamp(events[i]), eventTimestamp(events[j])
		return a.Before(&b)
	})
	if len(events) > recentEvents {
		events = events[len(events)-recentEvents:]
	}
	return events, nil
}

// eventTimestamp is when an Event last happened: series of the events
// API carry eventTime, core Events lastTimestamp.
func eventTimestamp(e corev1.Event) metav1.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.EventTime.IsZero():
		return metav1.NewTime(e.EventTime.Time)
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp
	}
	return e.CreationTimestamp
}

func describeKey(out io.Writer, k *keywardv1.APIKey, events []corev1.Event) error {
	w := printers.GetNewTabWriter(out)
	field := func(name, value string) {
		if value == "" {
			value = "<none>"
		}
		fmt.Fprintf(w, "%s:\t%s\n", name, terminalValue(value, "\t"))
	}
	field("Name", k.Name)
	field("Namespace", k.Namespace)
	field("Owner", k.Spec.Owner)
	field("Prefix", k.Status.Prefix)
	field("Key ID", k.Status.KeyID)
	field("Description", k.Spec.Description)
	if k.Spec.Role != "" {
		field("Role", k.Spec.Role)
	}
	field("Scopes", strings.Join(k.Status.Scopes, ", "))
	methods := make([]string, 0, len(k.EffectiveAuthMethods()))
	for _, m := range k.EffectiveAuthMethods() {
		methods = append(methods, string(m))
	}
	field("Auth Methods", strings.Join(methods, ", "))
	if k.Spec.Parent != nil {
		field("Parent", k.Spec.Parent.Name)
	}
	field("State", keyState(k))
	field("Secret Generation", fmt.Sprint(k.Status.SecretGeneration))
	field("Issued", timeOrNone(k.Status.IssuedTime))
	field("Last Rotation", timeOrNone(k.Status.LastRotationTime))
	field("Next Rotation", timeOrNone(k.Status.NextRotationTime))
	if k.Status.PreviousSecretValidUntil != nil {
		field("Previous Secret Valid Until", timeOrNone(k.Status.PreviousSecretValidUntil))
	}
	field("Expires", timeOrNone(k.Status.ExpirationTime))
	if k.Status.RevokedTime != nil {
		field("Revoked", timeOrNone(k.Status.RevokedTime))
	}
	field("Delivered To", deliveryPointer(k))
	if d := k.Status.Delivery; d != nil && d.SnippetsConfigMap != "" {
		field("Snippets", fmt.Sprintf("ConfigMap %q (kubectl keyward snippet %s --lang curl|go|python|js|envoy|traefik|nginx)", d.SnippetsConfigMap, k.Name))
	}
	for _, f := range usageFields(k.Status.Usage) {
		field(f[0], f[1])
	}
	// Each section aligns its own columns, as kubectl describe's do.
	if err := w.Flush(); err != nil {
		return err
	}
	w = printers.GetNewTabWriter(out)
	fmt.Fprintln(w, "Conditions:")
	if len(k.Status.Conditions) == 0 {
		fmt.Fprintln(w, "  <none>")
	} else {
		fmt.Fprintln(w, "  Type\tStatus\tReason\tLast Transition\tMessage")
		fmt.Fprintln(w, "  ----\t------\t------\t---------------\t-------")
		for _, cond := range k.Status.Conditions {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", terminalCell(cond.Type), terminalCell(string(cond.Status)), terminalCell(cond.Reason),
				cond.LastTransitionTime.UTC().Format("2006-01-02T15:04:05Z"), terminalValue(cond.Message, messageContinuation))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	w = printers.GetNewTabWriter(out)
	writeEvents(w, events)
	return w.Flush()
}

// deliveryPointer says where the plaintext is and how to read it, without
// reading it: describe never prints a key.
func deliveryPointer(k *keywardv1.APIKey) string {
	secret := k.Status.SecretName
	if secret == "" {
		return fmt.Sprintf("Secret %q (not written yet)", k.DeliverySecretName())
	}
	if k.RevealOnce() {
		if d := k.Status.Delivery; d != nil && d.RevealedTime != nil {
			return fmt.Sprintf("Secret %q holds only the key ID: the key was shown once, at %s (kubectl keyward rotate %s for a new one)", secret, timeOrNone(d.RevealedTime), k.Name)
		}
		return fmt.Sprintf("Secret %q, shown once: kubectl keyward reveal %s", secret, k.Name)
	}
	return fmt.Sprintf("Secret %q, data key %q (kubectl get secret %s -n %s -o jsonpath='{.data.%s}' | base64 -d)",
		secret, deliveryKeyField, secret, k.Namespace, deliveryKeyField)
}

// messageContinuation puts a message's further lines under the Message
// column of the conditions and Events tables (its fifth).
const messageContinuation = "  \t\t\t\t"

// keyState is what the verifier does with the key now, in the words of
// the Ready condition the manager writes: the spec alone says nothing of a
// suspended parent, a leak, an expiry or a policy violation.
func keyState(k *keywardv1.APIKey) string {
	if isRevoked(k) {
		return keywardv1.RevokedReason
	}
	ready := meta.FindStatusCondition(k.Status.Conditions, keywardv1.ReadyCondition)
	switch {
	case k.Spec.Suspended && (ready == nil || ready.Status == metav1.ConditionTrue):
		// Suspended in spec, and the manager has not caught up yet.
		return keywardv1.SuspendedReason
	case ready == nil:
		return "Pending (keyward has not reconciled the key yet)"
	case ready.Status == metav1.ConditionTrue:
		return "Active"
	case ready.Reason == keywardv1.KeyReadyReason:
		return "Not Ready"
	}
	return ready.Reason + " (not verifying)"
}

func writeEvents(w *tabwriter.Writer, events []corev1.Event) {
	if len(events) == 0 {
		fmt.Fprintln(w, "Events:\t<none>")
		return
	}
	fmt.Fprintln(w, "Events:")
	fmt.Fprintln(w, "  Type\tReason\tAge\tFrom\tMessage")
	fmt.Fprintln(w, "  ----\t------\t----\t----\t-------")
	for _, e := range events {
		from := e.Source.Component
		if from == "" {
			from = e.ReportingController
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", terminalCell(e.Type), terminalCell(e.Reason), age(eventTimestamp(e)), terminalCell(from),
			terminalValue(strings.TrimSpace(e.Message), messageContinuation))
	}
}
