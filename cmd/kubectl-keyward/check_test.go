package main

import (
	"context"
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/testutil"
)

func TestCheckNamesAreTheManagers(t *testing.T) {
	g := NewWithT(t)
	g.Expect(verifierDeploymentName).To(Equal(controllers.VerifierName))
	webhooks, err := os.ReadFile(testutil.RepoPath("config", "webhook", "manifests.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(webhooks)).To(ContainSubstring("name: " + apiKeyWebhookName + "\n"))
}

// lines are check's verdicts by check name.
func verdicts(stdout string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			out[f[1]] = f[0]
		}
	}
	return out
}

// verifierDeployment makes a verifier Deployment in a namespace of its own
// with availableReplicas as a kubelet would report them (envtest runs no
// Pods), and returns that namespace.
func verifierDeployment(t *testing.T, available int32) string {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t, nil)
	labels := map[string]string{"app": "verifier"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: verifierDeploymentName},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "verifier", Image: "keyward:test"}}},
			},
		},
	}
	g.Expect(admin.Create(ctx, d)).To(Succeed())
	setAvailable(t, ns, available)
	return ns
}

func setAvailable(t *testing.T, ns string, available int32) {
	t.Helper()
	g := NewWithT(t)
	var d appsv1.Deployment
	g.Expect(admin.Get(context.Background(), keyOf(ns, verifierDeploymentName), &d)).To(Succeed())
	d.Status.Replicas, d.Status.AvailableReplicas, d.Status.ReadyReplicas = 1, available, available
	g.Expect(admin.Status().Update(context.Background(), &d)).To(Succeed())
}

func TestCheckPassesWhereKeywardWorks(t *testing.T) {
	g := NewWithT(t)
	verifierNS := verifierDeployment(t, 1)
	ns := namespace(t, nil)

	res := asAdmin("check", "-n", ns, "--verifier-namespace", verifierNS)
	g.Expect(res.code).To(Equal(0), res.stdout+res.stderr)
	g.Expect(verdicts(res.stdout)).To(Equal(map[string]string{"crds": "ok", "webhook": "ok", "verifier": "ok"}))
	g.Expect(res.stdout).To(ContainSubstring("keyward.dev/v1alpha1 serves APIKey, KeyPolicy, SigningKey"))
	g.Expect(res.stdout).To(ContainSubstring(`reachable; it refused the probe key (role "keyward-check-undefined-role" is defined by no KeyPolicy), as it must`))
	g.Expect(res.stdout).To(ContainSubstring("deployment " + verifierNS + "/keyward-verifier has 1 available replicas"))
	var list keywardv1.APIKeyList
	g.Expect(admin.List(context.Background(), &list)).To(Succeed())
	for _, k := range list.Items {
		g.Expect(k.Spec.Owner).NotTo(Equal("keyward-check"), "the probe is a dry run")
	}
}

func TestCheckFailsWithoutAnAvailableVerifier(t *testing.T) {
	g := NewWithT(t)
	verifierNS := verifierDeployment(t, 0)
	ns := namespace(t, nil)

	res := asAdmin("check", "-n", ns, "--verifier-namespace", verifierNS)
	g.Expect(res.code).To(Equal(1))
	g.Expect(verdicts(res.stdout)).To(HaveKeyWithValue("verifier", "FAIL"))
	g.Expect(res.stdout).To(ContainSubstring("has no available replica (1 desired): keys are not verified on traffic"))
	g.Expect(res.stderr).To(ContainSubstring("1 of 3 checks failed"))

	res = asAdmin("check", "-n", ns, "--verifier-namespace", "nowhere")
	g.Expect(res.code).To(Equal(1))
	g.Expect(res.stdout).To(ContainSubstring("no deployment nowhere/keyward-verifier"))
	g.Expect(res.stdout).To(ContainSubstring(`no APIKey in "` + ns + `" reports VerifierAvailable`))
}

func TestCheckWaitsForTheVerifier(t *testing.T) {
	g := NewWithT(t)
	verifierNS := verifierDeployment(t, 0)
	ns := namespace(t, nil)
	attempts := 0
	checkFailedAttempt = func(results []checkResult) {
		attempts++
		setAvailable(t, verifierNS, 1)
	}
	defer func() { checkFailedAttempt = func([]checkResult) {} }()

	res := asAdmin("check", "-n", ns, "--verifier-namespace", verifierNS, "--wait", "30s")
	g.Expect(res.code).To(Equal(0), res.stdout+res.stderr)
	g.Expect(attempts).To(Equal(1))
	g.Expect(verdicts(res.stdout)).To(HaveKeyWithValue("verifier", "ok"))
}

// unreachableWebhook registers a validating webhook of name for APIKeys
// of namespace ns only, on a closed port: the API server cannot call it.
func unreachableWebhook(t *testing.T, name, ns string) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "unreachable-" + ns},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    name,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/validate")},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{"keyward.dev"}, APIVersions: []string{"*"}, Resources: []string{"apikeys"}}}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
			TimeoutSeconds:          ptr.To[int32](2),
		}},
	}
	g.Expect(admin.Create(ctx, cfg)).To(Succeed())
	t.Cleanup(func() { NewWithT(t).Expect(admin.Delete(ctx, cfg)).To(Succeed()) })
}

// keyward's webhook, registered where the API server cannot call it (for
// this namespace only), fails the check as unreachable.
func TestCheckTellsAnUnreachableWebhook(t *testing.T) {
	g := NewWithT(t)
	verifierNS := verifierDeployment(t, 1)
	ns := namespace(t, nil)
	unreachableWebhook(t, apiKeyWebhookName, ns)

	g.Eventually(func(g Gomega) {
		res := asAdmin("check", "-n", ns, "--verifier-namespace", verifierNS)
		g.Expect(res.code).To(Equal(1))
		g.Expect(verdicts(res.stdout)).To(Equal(map[string]string{"crds": "ok", "webhook": "FAIL", "verifier": "ok"}))
		g.Expect(res.stdout).To(ContainSubstring(`keyward's webhook is unreachable, so no APIKey can be created or changed`))
		g.Expect(res.stdout).To(ContainSubstring(`failed calling webhook "vapikey.keyward.dev"`))
	}, waitFor).Should(Succeed())
}

// Another webhook the API server cannot call is named, and keyward's is
// not blamed for it.
func TestCheckNamesAForeignWebhookThatFailed(t *testing.T) {
	g := NewWithT(t)
	verifierNS := verifierDeployment(t, 1)
	ns := namespace(t, nil)
	unreachableWebhook(t, "unreachable.example.com", ns)

	g.Eventually(func(g Gomega) {
		res := asAdmin("check", "-n", ns, "--verifier-namespace", verifierNS)
		g.Expect(res.code).To(Equal(1))
		g.Expect(verdicts(res.stdout)).To(HaveKeyWithValue("webhook", "FAIL"))
		g.Expect(res.stdout).To(ContainSubstring(`the API server could not call webhook "unreachable.example.com" (not keyward's)`))
		g.Expect(res.stdout).NotTo(ContainSubstring("keyward's webhook is unreachable"))
	}, waitFor).Should(Succeed())
}

// Without keyward's webhook the API server admits any APIKey: a namespace
// editor, who may not read webhook configurations, must not be told the
// webhook works.
func TestCheckFailsWhereKeywardsWebhookIsNotRegistered(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t, nil)
	user := tenant(t, "editor-"+ns, ns)
	var list admissionregistrationv1.ValidatingWebhookConfigurationList
	g.Expect(admin.List(ctx, &list)).To(Succeed())
	var keywards []admissionregistrationv1.ValidatingWebhookConfiguration
	for _, cfg := range list.Items {
		for _, wh := range cfg.Webhooks {
			if wh.Name == apiKeyWebhookName && cfg.DeletionTimestamp == nil {
				err := admin.Delete(ctx, &cfg)
				g.Expect(client.IgnoreNotFound(err)).To(Succeed())
				if err == nil {
					keywards = append(keywards, cfg)
				}
				break
			}
		}
	}
	g.Expect(keywards).NotTo(BeEmpty())
	defer restoreWebhooks(t, ns, keywards)

	g.Eventually(func(g Gomega) {
		res := plugin(user, "", "check", "-n", ns)
		g.Expect(verdicts(res.stdout)).To(HaveKeyWithValue("webhook", "FAIL"))
		g.Expect(res.stdout).To(ContainSubstring(`a dry-run APIKey of role "keyward-check-undefined-role", which keyward's webhook refuses, was admitted`))
		g.Expect(res.code).To(Equal(1))
	}, waitFor).Should(Succeed())
}

// restoreWebhooks registers the configurations again and waits until the
// API server calls keyward's webhook again, for the tests that follow.
func restoreWebhooks(t *testing.T, ns string, cfgs []admissionregistrationv1.ValidatingWebhookConfiguration) {
	g := NewWithT(t)
	ctx := context.Background()
	for _, cfg := range cfgs {
		cfg.ResourceVersion, cfg.UID = "", ""
		g.Expect(admin.Create(ctx, &cfg)).To(Succeed())
	}
	g.Eventually(func() bool {
		err := admin.Create(ctx, probeKey(ns), client.DryRunAll)
		return err != nil && deniedByWebhook(err)
	}, waitFor).Should(BeTrue())
}

// A KeyPolicy that refuses the probe's scope proves the webhook answered:
// the check passes and says the probe was refused by policy.
func TestCheckTellsARefusalByPolicyFromAnUnreachableWebhook(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	verifierNS := verifierDeployment(t, 1)
	ns := namespace(t, map[string]string{"keyward-test/policy": "strict"})
	policy := &keywardv1.KeyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "strict-" + ns},
		Spec: keywardv1.KeyPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"keyward-test/policy": "strict"}},
			AllowedScopes:     []keywardv1.Scope{"acme/payments/*:read"},
		},
	}
	g.Expect(admin.Create(ctx, policy)).To(Succeed())
	defer func() { g.Expect(admin.Delete(ctx, policy)).To(Succeed()) }()

	g.Eventually(func(g Gomega) {
		res := asAdmin("check", "-n", ns, "--verifier-namespace", verifierNS)
		g.Expect(res.code).To(Equal(0), res.stdout+res.stderr)
		g.Expect(verdicts(res.stdout)).To(HaveKeyWithValue("webhook", "ok"))
		g.Expect(res.stdout).To(ContainSubstring("reachable; it refused the probe key"))
	}, waitFor).Should(Succeed())
}

// A namespace editor may read neither the verifier's Deployment nor the
// webhook configurations: check falls back to what keyward reports on the
// namespace's keys, and says what it could not confirm.
func TestCheckAsANamespaceEditor(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	user := tenant(t, "editor-"+ns, ns)
	readyKey(t, ns, "alice-ci", "alice")
	g.Eventually(func() bool {
		return meta.FindStatusCondition(getKey(t, ns, "alice-ci").Status.Conditions, keywardv1.VerifierAvailableCondition) != nil
	}, waitFor).Should(BeTrue())

	res := plugin(user, "", "check", "-n", ns)
	g.Expect(verdicts(res.stdout)).To(HaveKeyWithValue("crds", "ok"))
	g.Expect(verdicts(res.stdout)).To(HaveKeyWithValue("webhook", "ok"))
	g.Expect(res.stdout).To(ContainSubstring("reachable; it refused the probe key"))
	// envtest runs no Pods: the manager reports its verifier unavailable.
	g.Expect(verdicts(res.stdout)).To(HaveKeyWithValue("verifier", "FAIL"))
	g.Expect(res.stdout).To(ContainSubstring(`deployment keyward-verifier/keyward-verifier: deployments.apps "keyward-verifier" is forbidden`))
	g.Expect(res.stdout).To(ContainSubstring(`the APIKeys of "` + ns + `" report VerifierAvailable=False, VerifierUnavailable`))
	g.Expect(res.code).To(Equal(1))
}
