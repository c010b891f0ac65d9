package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/snippets"
)

func init() { Register(NewSnippetCommand) }

type snippetOptions struct {
	lang      string
	withKey   bool
	endpoints snippets.Endpoints
}

// NewSnippetCommand is `kubectl keyward snippet`: an integration example
// for one key, without the key unless --with-key.
func NewSnippetCommand(r *Root) *cobra.Command {
	o := &snippetOptions{}
	cmd := keyCommand(r, "snippet", "Print an example that uses a key (curl, Go, Python, JavaScript, Envoy, Traefik, nginx)",
		`  kubectl keyward snippet alice/k3yd9qx2abcdefgh --lang curl
  kubectl keyward snippet payments-api --lang envoy
  kubectl keyward snippet payments-api --lang python --with-key`,
		func(ctx context.Context, c client.Client, k *keywardv1.APIKey) error {
			return o.run(ctx, r, c, k)
		})
	cmd.Long = `snippet prints an example for the key's own auth methods: a client that
calls your API (curl, go, python, js) or the forward-auth configuration of
a proxy in front of it (envoy, traefik, nginx). The endpoints are those
keyward wrote the key's snippets ConfigMap for (status.delivery.
snippetsConfigMap); the --*-url flags replace them.

The example reads the key from the environment variable KEYWARD_KEY and
never contains it, unless --with-key: then the key is read from its
delivery Secret with your credentials and written into the example.`
	names := make([]string, len(snippets.Langs))
	for i, l := range snippets.Langs {
		names[i] = string(l)
	}
	f := cmd.Flags()
	f.StringVar(&o.lang, "lang", "", "the example's language: "+strings.Join(names, ", "))
	f.BoolVar(&o.withKey, "with-key", false, "write the key itself into the example (keep it out of files and version control)")
	f.StringVar(&o.endpoints.Decision, "decision-url", "", "base URL of the verifier's decision port, for the proxies")
	f.StringVar(&o.endpoints.Token, "token-url", "", "URL of the verifier's token endpoint, for the clients")
	f.StringVar(&o.endpoints.API, "api-url", "", "URL of the service the clients call")
	_ = cmd.MarkFlagRequired("lang")
	_ = cmd.RegisterFlagCompletionFunc("lang", cobra.FixedCompletions(names, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (o *snippetOptions) run(ctx context.Context, r *Root, c client.Client, k *keywardv1.APIKey) error {
	lang, err := snippets.ParseLang(o.lang)
	if err != nil {
		return err
	}
	if k.Status.KeyID == "" {
		return fmt.Errorf("apikey/%s has not been issued yet: it has no key ID to write examples for", k.Name)
	}
	endpoints, err := o.endpointsFor(ctx, c, k)
	if err != nil {
		return err
	}
	plaintext := ""
	if o.withKey {
		if plaintext, err = o.plaintext(ctx, c, k); err != nil {
			return err
		}
	}
	methods := make([]string, 0, len(k.Spec.AuthMethods))
	for _, m := range k.Spec.AuthMethods {
		methods = append(methods, string(m))
	}
	out, err := snippets.Render(lang, snippets.Key{
		Owner: k.Spec.Owner, KeyID: k.Status.KeyID, Namespace: k.Namespace,
		SecretName: k.DeliverySecretName(), AuthMethods: methods, Scopes: k.Status.Scopes,
	}, endpoints, plaintext)
	if err != nil {
		return fmt.Errorf("apikey/%s: %w", k.Name, err)
	}
	_, err = fmt.Fprint(r.Streams.Out, out)
	return err
}

// endpointsFor are the flags' endpoints, completed from the annotations
// keyward wrote on the key's snippets ConfigMap.
func (o *snippetOptions) endpointsFor(ctx context.Context, c client.Client, k *keywardv1.APIKey) (snippets.Endpoints, error) {
	e := o.endpoints
	if err := e.ValidateSet(); err != nil {
		return e, err
	}
	if e.Decision != "" && e.Token != "" {
		return e, nil
	}
	name := ""
	if k.Status.Delivery != nil {
		name = k.Status.Delivery.SnippetsConfigMap
	}
	if name == "" {
		return e, fmt.Errorf("apikey/%s has no snippets ConfigMap to take the verifier's endpoints from: pass --decision-url and --token-url", k.Name)
	}
	var cm corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: name}, &cm); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
			return e, fmt.Errorf("reading the snippets ConfigMap %q of apikey/%s: %w; pass --decision-url and --token-url instead", name, k.Name, err)
		}
		return e, err
	}
	for _, f := range []struct {
		into       *string
		annotation string
	}{
		{&e.Decision, keywardv1.SnippetsDecisionURLAnnotation},
		{&e.Token, keywardv1.SnippetsTokenURLAnnotation},
		{&e.API, keywardv1.SnippetsAPIURLAnnotation},
	} {
		if *f.into == "" {
			*f.into = cm.Annotations[f.annotation]
		}
	}
	return e, nil
}

// plaintext reads the key for --with-key, as reveal does, without
// revealing it: a key shown once stays where it is.
func (o *snippetOptions) plaintext(ctx context.Context, c client.Client, k *keywardv1.APIKey) (string, error) {
	secret, err := deliverySecret(ctx, c, k)
	if err != nil {
		return "", fmt.Errorf("--with-key: %w", err)
	}
	if _, held := secret.Data[deliveryKeyField]; !held && string(secret.Data[deliveryRevealedField]) == "true" {
		return "", fmt.Errorf("--with-key: apikey/%s was revealed and its Secret no longer holds the key; use the snippet without --with-key and KEYWARD_KEY", k.Name)
	}
	key, err := deliveredKeyIn(secret, k)
	if err != nil {
		return "", fmt.Errorf("--with-key: %w", err)
	}
	return key.Plaintext(), nil
}
