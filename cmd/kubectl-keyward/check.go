package main

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func init() { Register(newCheckCommand) }

// Names the manager gives what it deploys (controllers.VerifierName, the
// webhook's name in config/webhook; a test keeps them equal).
const (
	verifierDeploymentName   = "keyward-verifier"
	defaultVerifierNamespace = "keyward-verifier"
	apiKeyWebhookName        = "vapikey.keyward.dev"
)

// checkResult is one check's verdict; reason says why when it failed, or
// what it saw when it passed.
type checkResult struct {
	name   string
	ok     bool
	reason string
}

type checkOptions struct {
	verifierNamespace string
	wait              time.Duration
}

func newCheckCommand(r *Root) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that keyward works here: CRDs served, webhook reachable, verifier available",
		Long: `check answers "can I use keyward in this namespace?":
  crds      the API server serves keyward.dev/v1alpha1 with every keyward kind;
  webhook   a server-side dry-run create of an APIKey of a role no KeyPolicy
            defines is refused by keyward's admission webhook, as it must be
            (admitted: keyward does not judge keys here; a webhook the API
            server failed to call is named);
  verifier  the verifier Deployment has an available replica (when you may read
            it), or else the APIKeys of the namespace report VerifierAvailable.
Each failed check says why; the exit code is 1 when one fails. --wait retries
until every check passes or the time is up.`,
		Example: `  kubectl keyward check
  kubectl keyward check --wait 2m -n payments`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(commandContext(cmd), r)
		},
	}
	cmd.Flags().StringVar(&o.verifierNamespace, "verifier-namespace", defaultVerifierNamespace, "the namespace the manager runs the verifier in (its --verifier-namespace)")
	cmd.Flags().DurationVar(&o.wait, "wait", 0, "retry until every check passes or this much time has passed")
	return cmd
}

func (o *checkOptions) run(ctx context.Context, r *Root) error {
	c, ns, err := r.Target()
	if err != nil {
		return err
	}
	dc, err := r.Flags.ToDiscoveryClient()
	if err != nil {
		return err
	}
	var results []checkResult
	deadline := time.Now().Add(o.wait)
	for {
		dc.Invalidate()
		results = []checkResult{
			checkCRDs(dc),
			checkWebhook(ctx, c, ns),
			checkVerifier(ctx, c, ns, o.verifierNamespace),
		}
		if allPassed(results) || !time.Now().Before(deadline) {
			break
		}
		checkFailedAttempt(results)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	failed := 0
	for _, res := range results {
		verdict := "ok"
		if !res.ok {
			verdict = "FAIL"
			failed++
		}
		fmt.Fprintf(r.Streams.Out, "%-4s  %-8s  %s\n", verdict, res.name, terminalText(res.reason))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(results))
	}
	return nil
}

// checkFailedAttempt runs after each attempt that --wait retries; tests
// change the cluster there instead of racing the retries.
var checkFailedAttempt = func([]checkResult) {}

func allPassed(results []checkResult) bool {
	for _, res := range results {
		if !res.ok {
			return false
		}
	}
	return true
}

// keywardKinds are the kinds the scheme knows in keyward's group, which
// is every kind the CRDs must serve.
func keywardKinds() []string {
	var kinds []string
	for kind := range scheme.KnownTypes(keywardv1.GroupVersion) {
		if !strings.HasSuffix(kind, "List") && !strings.HasSuffix(kind, "Options") && kind != "WatchEvent" && kind != "Status" {
			kinds = append(kinds, kind)
		}
	}
	sort.Strings(kinds)
	return kinds
}

func checkCRDs(dc discovery.DiscoveryInterface) checkResult {
	res := checkResult{name: "crds"}
	gv := keywardv1.GroupVersion.String()
	list, err := dc.ServerResourcesForGroupVersion(gv)
	if err != nil {
		if apierrors.IsNotFound(err) {
			res.reason = fmt.Sprintf("the API server does not serve %s: install keyward's CRDs (make install, the Helm chart or dist/install.yaml)", gv)
		} else {
			res.reason = fmt.Sprintf("cannot read the API server's discovery for %s: %v", gv, err)
		}
		return res
	}
	served := map[string]bool{}
	for _, r := range list.APIResources {
		served[r.Kind] = true
	}
	var missing []string
	kinds := keywardKinds()
	for _, kind := range kinds {
		if !served[kind] {
			missing = append(missing, kind)
		}
	}
	if len(missing) > 0 {
		res.reason = fmt.Sprintf("%s is served without %s: the installed CRDs are older than this plugin", gv, strings.Join(missing, ", "))
		return res
	}
	res.ok, res.reason = true, fmt.Sprintf("%s serves %s", gv, strings.Join(kinds, ", "))
	return res
}

// probeRole is a role no KeyPolicy defines (keyward's reserved name),
// which keyward's webhook always refuses (internal/policy: an undefined
// role is a violation whatever the default policy). So the probe tells
// keyward's webhook apart from an API server that admits APIKeys without
// it: admitted means keyward did not judge the key.
const probeRole = "keyward-check-undefined-role"

// probeKey is what the webhook check asks the API server to create, as a
// dry run: nothing is stored and no key is issued.
func probeKey(ns string) *keywardv1.APIKey {
	return &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "keyward-check-"},
		Spec: keywardv1.APIKeySpec{
			Owner:       "keyward-check",
			Description: "kubectl keyward check: a server-side dry run, never stored",
			Role:        probeRole,
		},
	}
}

func checkWebhook(ctx context.Context, c client.Client, ns string) checkResult {
	res := checkResult{name: "webhook"}
	err := c.Create(ctx, probeKey(ns), client.DryRunAll, client.FieldOwner(FieldManager))
	failed := failedWebhook(err)
	switch {
	case err == nil:
		res.reason = fmt.Sprintf("a dry-run APIKey of role %q, which keyward's webhook refuses, was admitted: keyward's webhook did not judge it, so APIKeys here are admitted without keyward's policy checks", probeRole)
		if registered, err := webhookRegistered(ctx, c); err == nil && !registered {
			res.reason += fmt.Sprintf(" (no validating webhook %q is registered)", apiKeyWebhookName)
		}
	case deniedByWebhook(err):
		res.ok, res.reason = true, fmt.Sprintf("reachable; it refused the probe key (role %q is defined by no KeyPolicy), as it must", probeRole)
	case failed == apiKeyWebhookName:
		res.reason = "keyward's webhook is unreachable, so no APIKey can be created or changed: " + err.Error()
	case failed != "":
		res.reason = fmt.Sprintf("the API server could not call webhook %q (not keyward's), so APIKeys cannot be created here and keyward's webhook was not reached: %v", failed, err)
	case apierrors.IsForbidden(err):
		res.reason = fmt.Sprintf("you may not create APIKeys in namespace %q, so the webhook cannot be probed here: %v", ns, err)
	default:
		res.reason = "the probe key was refused before keyward's webhook: " + err.Error()
	}
	return res
}

// failedWebhookName finds the webhook the API server could not call
// (connection, TLS, timeout), as opposed to one that answered no.
var failedWebhookName = regexp.MustCompile(`failed calling webhook "([^"]+)"`)

// failedWebhook is the name of the webhook the API server failed to call,
// or "".
func failedWebhook(err error) string {
	if err == nil {
		return ""
	}
	if m := failedWebhookName.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return ""
}

func deniedByWebhook(err error) bool {
	return strings.Contains(err.Error(), "admission webhook \""+apiKeyWebhookName+"\" denied the request")
}

func webhookRegistered(ctx context.Context, c client.Client) (bool, error) {
	var list admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := c.List(ctx, &list); err != nil {
		return false, err
	}
	for _, cfg := range list.Items {
		for _, wh := range cfg.Webhooks {
			if wh.Name == apiKeyWebhookName {
				return true, nil
			}
		}
	}
	return false, nil
}

func checkVerifier(ctx context.Context, c client.Client, ns, verifierNS string) checkResult {
	res := checkResult{name: "verifier"}
	var d appsv1.Deployment
	err := c.Get(ctx, client.ObjectKey{Namespace: verifierNS, Name: verifierDeploymentName}, &d)
	if err == nil {
		if d.Status.AvailableReplicas > 0 {
			res.ok, res.reason = true, fmt.Sprintf("deployment %s/%s has %d available replicas", verifierNS, d.Name, d.Status.AvailableReplicas)
		} else {
			res.reason = fmt.Sprintf("deployment %s/%s has no available replica (%d desired): keys are not verified on traffic", verifierNS, d.Name, d.Status.Replicas)
		}
		return res
	}
	why := fmt.Sprintf("deployment %s/%s: %v", verifierNS, verifierDeploymentName, err)
	if apierrors.IsNotFound(err) {
		why = fmt.Sprintf("no deployment %s/%s (another --verifier-namespace, or the verifier is run outside the manager)", verifierNS, verifierDeploymentName)
	}
	// Not readable or not there: what the manager reported on the keys of
	// this namespace is the next best witness.
	cond, err := latestVerifierCondition(ctx, c, ns)
	switch {
	case err != nil:
		res.reason = fmt.Sprintf("%s; and the APIKeys of %q cannot be listed: %v", why, ns, err)
	case cond == nil:
		res.reason = fmt.Sprintf("%s; and no APIKey in %q reports %s", why, ns, keywardv1.VerifierAvailableCondition)
	case cond.Status == metav1.ConditionTrue:
		res.ok, res.reason = true, fmt.Sprintf("%s; the APIKeys of %q report %s: %s", why, ns, keywardv1.VerifierAvailableCondition, cond.Message)
	default:
		res.reason = fmt.Sprintf("%s; the APIKeys of %q report %s=%s, %s: %s", why, ns, keywardv1.VerifierAvailableCondition, cond.Status, cond.Reason, cond.Message)
	}
	return res
}

// latestVerifierCondition is the VerifierAvailable condition that changed
// last among the namespace's keys: the manager's newest word.
func latestVerifierCondition(ctx context.Context, c client.Client, ns string) (*metav1.Condition, error) {
	var list keywardv1.APIKeyList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var latest *metav1.Condition
	for i := range list.Items {
		cond := meta.FindStatusCondition(list.Items[i].Status.Conditions, keywardv1.VerifierAvailableCondition)
		if cond != nil && (latest == nil || latest.LastTransitionTime.Before(&cond.LastTransitionTime)) {
			latest = cond
		}
	}
	return latest, nil
}
