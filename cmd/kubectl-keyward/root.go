package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// FieldManager owns every field the plugin writes, so that server-side
// apply and `kubectl get --show-managed-fields` tell its writes apart from
// the manager's and from GitOps tools'.
const FieldManager = "kubectl-keyward"

// Root is what every subcommand shares: kubectl's connection flags
// (--kubeconfig, --context, --namespace, …) and the streams. Stdout carries
// only a command's result (a table, a key); messages go to ErrOut.
type Root struct {
	Flags   *genericclioptions.ConfigFlags
	Streams genericiooptions.IOStreams

	client client.Client
}

// Subcommand builds one command on the shared Root.
type Subcommand func(*Root) *cobra.Command

var registered []Subcommand

// Register adds a subcommand to every root built afterwards. Files of this
// package call it from init, so that a command is one file.
func Register(s Subcommand) { registered = append(registered, s) }

// NewRootCommand is `kubectl keyward` with every registered subcommand.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	r := &Root{Flags: genericclioptions.NewConfigFlags(true), Streams: streams}
	cmd := &cobra.Command{
		Use:   "kubectl-keyward",
		Short: "Manage keyward API keys: list, create, rotate, revoke and check them",
		Long: `kubectl keyward manages keyward API keys with your own Kubernetes
credentials. A key is named by its APIKey name, its prefix "<owner>/<keyID>"
or its key ID; keys are looked up in the namespace of --namespace (or of the
current context) only.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// kubectl runs the plugin as "kubectl keyward"; usage lines say so.
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl keyward"},
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	r.Flags.AddFlags(cmd.PersistentFlags())
	for _, s := range registered {
		cmd.AddCommand(s(r))
	}
	return cmd
}

// Execute runs the plugin with args and returns its exit code: 0, or 1
// after printing the error.
func Execute(args []string, streams genericiooptions.IOStreams) int {
	cmd := NewRootCommand(streams)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		// Errors quote objects (a Ready condition's message, a webhook's
		// refusal): escaped as everything else from an object.
		fmt.Fprintf(streams.ErrOut, "error: %s\n", printers.EscapeTerminal(err.Error()))
		return 1
	}
	return 0
}

var scheme = newScheme()

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(s))
	utilruntime.Must(appsv1.AddToScheme(s))
	utilruntime.Must(admissionregistrationv1.AddToScheme(s))
	utilruntime.Must(keywardv1.AddToScheme(s))
	return s
}

// Client is a direct (uncached) client with the user's credentials.
func (r *Root) Client() (client.Client, error) {
	if r.client != nil {
		return r.client, nil
	}
	cfg, err := r.Flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	r.client = c
	return c, nil
}

// Namespace is --namespace, or the current context's namespace, or
// "default", as kubectl chooses it.
func (r *Root) Namespace() (string, error) {
	ns, _, err := r.Flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", err
	}
	if ns == "" {
		return "", errors.New("no namespace: pass --namespace")
	}
	return ns, nil
}

// Target is the client and namespace a command works in.
func (r *Root) Target() (client.Client, string, error) {
	c, err := r.Client()
	if err != nil {
		return nil, "", err
	}
	ns, err := r.Namespace()
	if err != nil {
		return nil, "", err
	}
	return c, ns, nil
}

// Messagef writes a message for the person, never the command's result.
func (r *Root) Messagef(format string, a ...any) {
	fmt.Fprintln(r.Streams.ErrOut, printers.EscapeTerminal(fmt.Sprintf(format, a...)))
}

// commandContext is the command's context, or Background when the caller
// executed it without one.
func commandContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
