package main

import (
	"fmt"
	"github.com/liggitt/tabwriter"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func init() { Register(newGetCommand) }

type getOptions struct {
	owner, prefix, output string
	allNamespaces         bool
}

func newGetCommand(r *Root) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:     "get [NAME | OWNER/KEYID | KEYID]",
		Aliases: []string{"list", "ls"},
		Short:   "List the APIKeys of the namespace, or show one",
		Example: `  kubectl keyward get
  kubectl keyward list --owner alice -o wide
  kubectl keyward get alice/k3ydqx2mzt4wbnpe -o yaml
  kubectl keyward get -A --prefix alice/k3ydqx2mzt4wbnpe`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeKeyNames(r),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := o.keys(cmd, r, args)
			if err != nil {
				return err
			}
			if len(keys) == 0 && (o.output == "" || o.output == "wide") {
				// As kubectl says it: on stderr, so that a script's stdout
				// stays empty.
				r.Messagef("No APIKeys found%s.", o.where(r))
				return nil
			}
			return printKeys(r.Streams.Out, keys, o.output, o.allNamespaces)
		},
	}
	cmd.Flags().StringVar(&o.owner, "owner", "", "only the keys of this owner (spec.owner)")
	cmd.Flags().StringVar(&o.prefix, "prefix", "", "only the key with this prefix <owner>/<keyID> (status.prefix)")
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list the keys of every namespace you may list")
	addOutputFlag(cmd, &o.output)
	return cmd
}

func (o *getOptions) keys(cmd *cobra.Command, r *Root, args []string) ([]keywardv1.APIKey, error) {
	c, ns, err := r.Target()
	if err != nil {
		return nil, err
	}
	ctx := commandContext(cmd)
	if len(args) == 1 {
		if o.owner != "" || o.prefix != "" || o.allNamespaces {
			return nil, fmt.Errorf("name one key or filter with --owner/--prefix/-A, not both")
		}
		k, err := ResolveKey(ctx, c, ns, args[0])
		if err != nil {
			return nil, err
		}
		return []keywardv1.APIKey{*k}, nil
	}
	opts := []client.ListOption{}
	if !o.allNamespaces {
		opts = append(opts, client.InNamespace(ns))
	}
	fields := client.MatchingFields{}
	if o.owner != "" {
		fields[ownerField] = o.owner
	}
	if o.prefix != "" {
		fields[prefixField] = o.prefix
	}
	if len(fields) > 0 {
		opts = append(opts, fields)
	}
	var list keywardv1.APIKeyList
	if err := c.List(ctx, &list, opts...); err != nil {
		return nil, err
	}
	return list.Items, nil
}

func (o *getOptions) where(r *Root) string {
	if o.allNamespaces {
		return ""
	}
	ns, _ := r.Namespace()
	return fmt.Sprintf(" in %s namespace", ns)
}

func addOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "", "output format: wide, yaml, json or name")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"wide", "yaml", "json", "name"}, cobra.ShellCompDirectiveNoFileComp))
}

// printObjects prints yaml, json or name as kubectl does; ok is false for
// the table formats, which each command prints itself.
func printObjects(w io.Writer, output string, objs []client.Object) (ok bool, err error) {
	var p printers.ResourcePrinter
	switch output {
	case "", "wide":
		return false, nil
	case "yaml":
		p = &printers.YAMLPrinter{}
	case "json":
		p = &printers.JSONPrinter{}
	case "name":
		p = &printers.NamePrinter{}
	default:
		return false, fmt.Errorf("unknown output format %q: use wide, yaml, json or name", output)
	}
	for _, obj := range objs {
		gvks, _, err := scheme.ObjectKinds(obj)
		if err != nil {
			return true, err
		}
		// Typed clients leave kind and apiVersion empty; kubectl prints them.
		obj.GetObjectKind().SetGroupVersionKind(gvks[0])
		obj.SetManagedFields(nil)
		if err := p.PrintObj(obj, w); err != nil {
			return true, err
		}
	}
	return true, nil
}

func printKeys(w io.Writer, keys []keywardv1.APIKey, output string, withNamespace bool) error {
	objs := make([]client.Object, len(keys))
	for i := range keys {
		objs[i] = &keys[i]
	}
	if done, err := printObjects(w, output, objs); done || err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	t := newTable(w, withNamespace, output == "wide",
		[]string{"NAME", "OWNER", "PREFIX", "READY", "REASON", "EXPIRES", "AGE"},
		[]string{"SECRET", "NEXT-ROTATION", "MESSAGE"})
	for _, k := range keys {
		ready := meta.FindStatusCondition(k.Status.Conditions, keywardv1.ReadyCondition)
		var status, reason, message string
		if ready != nil {
			status, reason, message = string(ready.Status), ready.Reason, ready.Message
		}
		t.row(k.Namespace,
			[]string{k.Name, k.Spec.Owner, k.Status.Prefix, status, reason, timeOrNone(k.Status.ExpirationTime), age(k.CreationTimestamp)},
			[]string{k.Status.SecretName, timeOrNone(k.Status.NextRotationTime), message})
	}
	return t.flush()
}

type table struct {
	w                   *tabwriter.Writer
	withNamespace, wide bool
}

// newTable writes kubectl's layout: upper-case headers, NAMESPACE first
// with -A, the wide columns last with -o wide.
func newTable(w io.Writer, withNamespace, wide bool, columns, wideColumns []string) *table {
	t := &table{w: printers.GetNewTabWriter(w), withNamespace: withNamespace, wide: wide}
	t.row("NAMESPACE", columns, wideColumns)
	return t
}

func (t *table) row(namespace string, cells, wideCells []string) {
	if t.withNamespace {
		cells = append([]string{namespace}, cells...)
	}
	if t.wide {
		cells = append(cells, wideCells...)
	}
	for i, c := range cells {
		if c == "" {
			c = "<none>"
		}
		c = terminalCell(c)
		if i > 0 {
			fmt.Fprint(t.w, "\t")
		}
		fmt.Fprint(t.w, c)
	}
	fmt.Fprintln(t.w)
}

func (t *table) flush() error { return t.w.Flush() }

func age(created metav1.Time) string {
	return duration.HumanDuration(time.Since(created.Time))
}

func timeOrNone(t *metav1.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
