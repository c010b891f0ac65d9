package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func init() { Register(newCreateCommand) }

type createOptions struct {
	owner, role, description, secretName, parent, expiresAt, dryRun string
	rateLimitStrategy                                               string
	scopes, authMethods, rateLimits                                 []string
	expiresAfterDays                                                int32
	rotateEvery, gracePeriod, timeout                               time.Duration
	revealOnce                                                      bool
}

func newCreateCommand(r *Root) *cobra.Command {
	o := &createOptions{}
	cmd := &cobra.Command{
		Use:   "create NAME --owner OWNER (--scope SCOPE... | --role ROLE)",
		Short: "Create an APIKey, wait until it is Ready and print the key once",
		Long: `create makes an APIKey, waits until keyward has issued and published it,
and prints the key on stdout, alone, once: store it now. Everything else goes
to stderr, so "KEY=$(kubectl keyward create ...)" captures only the key.
With --dry-run=server the API server and keyward's webhook judge the key and
nothing is created or printed on stdout.`,
		Example: `  kubectl keyward create payments-api --owner alice --scope acme/payments/invoices:read
  kubectl keyward create ci --owner ci-bot --role deployer --expires-in-days 90 --rotate-every 720h
  kubectl keyward create probe --owner alice --scope acme/payments/invoices:read --dry-run=server`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := r.Target()
			if err != nil {
				return err
			}
			key, err := o.apiKey(ns, args[0])
			if err != nil {
				return err
			}
			return o.run(commandContext(cmd), r, c, key)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.owner, "owner", "", "the key's owner (spec.owner): a user or service ID; part of the prefix <owner>/<keyID>")
	f.StringArrayVar(&o.scopes, "scope", nil, "a scope <org>/<project>/<type>[/<id>]:<action> (repeat for more); or use --role")
	f.StringVar(&o.role, "role", "", "a role a KeyPolicy of the namespace defines, instead of --scope")
	f.StringVar(&o.description, "description", "", "what the key is for (no secrets)")
	f.StringSliceVar(&o.authMethods, "auth-method", nil, "how the key authenticates: APIKey, ClientCredentials, ClientAssertion (default APIKey)")
	f.Int32Var(&o.expiresAfterDays, "expires-in-days", 0, "the key expires this many days after creation")
	f.StringVar(&o.expiresAt, "expires-at", "", "the key expires at this RFC 3339 time, e.g. 2027-01-31T00:00:00Z")
	f.DurationVar(&o.rotateEvery, "rotate-every", 0, "rotate the secret on this schedule, e.g. 720h")
	f.DurationVar(&o.gracePeriod, "grace-period", -1, "how long the previous secret verifies after a rotation (default 1h)")
	f.StringArrayVar(&o.rateLimits, "rate-limit", nil, "a request rate limit LIMIT/PERIOD, e.g. 100/1s or 5000/1h (repeat for more)")
	f.StringVar(&o.rateLimitStrategy, "rate-limit-strategy", string(keywardv1.TokenBucket), "how --rate-limit counts: TokenBucket, SlidingWindow or FixedWindow")
	f.StringVar(&o.secretName, "secret-name", "", "the Secret the key is delivered to (default: the APIKey's name)")
	f.StringVar(&o.parent, "parent", "", "delegate from this APIKey of the namespace")
	f.BoolVar(&o.revealOnce, "reveal-once", false, "show the key once (spec.delivery.revealOnce): after printing it, keyward removes it from its Secret")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long to wait for the key to be Ready")
	f.StringVar(&o.dryRun, "dry-run", "none", `"server" to have the API server and keyward's webhook judge the key without creating it`)
	f.Lookup("dry-run").NoOptDefVal = "server"
	_ = cmd.MarkFlagRequired("owner")
	_ = cmd.RegisterFlagCompletionFunc("auth-method", cobra.FixedCompletions([]cobra.Completion{"APIKey", "ClientCredentials", "ClientAssertion"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]cobra.Completion{"none", "server"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// apiKey is the APIKey the flags describe. The API server and the webhook
// judge it; only what they cannot see (flag syntax) is refused here.
func (o *createOptions) apiKey(ns, name string) (*keywardv1.APIKey, error) {
	if o.dryRun != "none" && o.dryRun != "server" {
		return nil, fmt.Errorf("--dry-run=%q: use server (client-side dry run would judge nothing keyward judges)", o.dryRun)
	}
	k := &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       keywardv1.APIKeySpec{Owner: o.owner, Description: o.description, Role: o.role},
	}
	for _, s := range o.scopes {
		k.Spec.Scopes = append(k.Spec.Scopes, keywardv1.Scope(s))
	}
	for _, m := range o.authMethods {
		k.Spec.AuthMethods = append(k.Spec.AuthMethods, keywardv1.AuthMethod(m))
	}
	if o.parent != "" {
		k.Spec.Parent = &keywardv1.ParentReference{Name: o.parent}
	}
	if o.secretName != "" || o.revealOnce {
		k.Spec.Delivery = &keywardv1.Delivery{SecretName: o.secretName, RevealOnce: o.revealOnce}
	}
	for _, spec := range o.rateLimits {
		limit, err := parseRateLimit(spec, keywardv1.RateLimitStrategy(o.rateLimitStrategy))
		if err != nil {
			return nil, err
		}
		if k.Spec.RateLimit == nil {
			k.Spec.RateLimit = &keywardv1.RateLimit{}
		}
		k.Spec.RateLimit.Limits = append(k.Spec.RateLimit.Limits, limit)
	}
	switch {
	case o.expiresAfterDays != 0 && o.expiresAt != "":
		return nil, errors.New("--expires-in-days and --expires-at both set: choose one")
	case o.expiresAfterDays != 0:
		days := o.expiresAfterDays
		k.Spec.Expiration = &keywardv1.Expiration{AfterDays: &days}
	case o.expiresAt != "":
		at, err := time.Parse(time.RFC3339, o.expiresAt)
		if err != nil {
			return nil, fmt.Errorf("--expires-at %q is not an RFC 3339 time such as 2027-01-31T00:00:00Z", o.expiresAt)
		}
		k.Spec.Expiration = &keywardv1.Expiration{At: &metav1.Time{Time: at}}
	}
	if o.rotateEvery != 0 || o.gracePeriod >= 0 {
		k.Spec.Rotation = &keywardv1.Rotation{}
		if o.rotateEvery != 0 {
			if o.rotateEvery%time.Second != 0 {
				return nil, fmt.Errorf("--rotate-every %s: use whole seconds", o.rotateEvery)
			}
			s := int64(o.rotateEvery / time.Second)
			k.Spec.Rotation.IntervalSeconds = &s
		}
		if o.gracePeriod >= 0 {
			if o.gracePeriod%time.Second != 0 {
				return nil, fmt.Errorf("--grace-period %s: use whole seconds", o.gracePeriod)
			}
			s := int64(o.gracePeriod / time.Second)
			k.Spec.Rotation.GracePeriodSeconds = &s
		}
	}
	return k, nil
}

// parseRateLimit reads LIMIT/PERIOD, such as 100/1s; the limit is named
// after its period ("per-1s"), which the API requires to be unique.
func parseRateLimit(spec string, strategy keywardv1.RateLimitStrategy) (keywardv1.Limit, error) {
	count, period, ok := strings.Cut(spec, "/")
	n, err := strconv.ParseInt(count, 10, 64)
	d, derr := time.ParseDuration(period)
	if !ok || err != nil || derr != nil || d < time.Second || d%time.Second != 0 {
		return keywardv1.Limit{}, fmt.Errorf("--rate-limit %q: write LIMIT/PERIOD with a period of whole seconds, e.g. 100/1s or 5000/1h", spec)
	}
	seconds := int64(d / time.Second)
	return keywardv1.Limit{Name: fmt.Sprintf("per-%ds", seconds), Strategy: strategy, Limit: n, PeriodSeconds: seconds}, nil
}

func (o *createOptions) run(ctx context.Context, r *Root, c client.Client, k *keywardv1.APIKey) error {
	opts := []client.CreateOption{client.FieldOwner(FieldManager)}
	if o.dryRun == "server" {
		opts = append(opts, client.DryRunAll)
	}
	if err := c.Create(ctx, k, opts...); err != nil {
		return err
	}
	if o.dryRun == "server" {
		r.Messagef("apikey/%s created (server dry run): the API server and keyward accept it; nothing was created", k.Name)
		return nil
	}
	// k is now what the API server created, with its UID: the wait and the
	// Secret must be this object's, not whatever holds the name later.
	r.Messagef("apikey/%s created; waiting up to %s for keyward to issue it", k.Name, o.timeout)
	ready, err := waitReadyKey(ctx, c, k, o.timeout)
	if err != nil {
		return err
	}
	key, err := readDeliveredKey(ctx, c, ready)
	if err != nil {
		return err
	}
	if ready.RevealOnce() {
		// Creating is the one reveal: the same as reveal, with the
		// messages of create.
		r.Messagef("apikey/%s is Ready: prefix %s. The key follows on stdout, shown this once.", ready.Name, ready.Status.Prefix)
		return reveal(ctx, r, c, ready, o.timeout)
	}
	r.Messagef("apikey/%s is Ready: prefix %s. The key follows on stdout, printed this once; keyward keeps it in Secret %q.",
		ready.Name, ready.Status.Prefix, ready.Status.SecretName)
	_, err = fmt.Fprintln(r.Streams.Out, key.Plaintext())
	return err
}

// waitReadyKey waits until keyward has reconciled the current spec of the
// APIKey made (or resolved) as made and says it is Ready. It follows that
// object, not its name: it fails as soon as the name is gone or belongs to
// another APIKey (deleted and created again by anyone who may edit the
// namespace). A timeout names the Ready condition keyward last set, which
// says why (a policy violation, a Secret of that name that is not
// keyward's…).
func waitReadyKey(ctx context.Context, c client.Client, made *keywardv1.APIKey, timeout time.Duration) (*keywardv1.APIKey, error) {
	var k keywardv1.APIKey
	err := pollUntil(ctx, timeout, func() (bool, error) {
		if err := getSameKey(ctx, c, made, &k); err != nil {
			return false, err
		}
		ready := meta.FindStatusCondition(k.Status.Conditions, keywardv1.ReadyCondition)
		return ready != nil && ready.Status == metav1.ConditionTrue && k.Status.ObservedGeneration == k.Generation && k.Status.SecretName != "", nil
	})
	if err == nil {
		return &k, nil
	}
	if !wait.Interrupted(err) {
		return nil, err
	}
	if ready := meta.FindStatusCondition(k.Status.Conditions, keywardv1.ReadyCondition); ready != nil {
		return nil, fmt.Errorf("apikey/%s is not Ready after %s: %s: %s", made.Name, timeout, ready.Reason, ready.Message)
	}
	return nil, fmt.Errorf("apikey/%s is not Ready after %s and has no Ready condition: is the keyward manager running? (kubectl keyward check)", made.Name, timeout)
}
