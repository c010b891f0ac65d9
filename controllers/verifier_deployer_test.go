package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func verifierKey() client.ObjectKey {
	return client.ObjectKey{Namespace: verifierNamespace, Name: VerifierName}
}

// deployedVerifier waits for the test manager's verifier Deployment.
func deployedVerifier(g *WithT) *appsv1.Deployment {
	dep := &appsv1.Deployment{}
	g.Eventually(func() error { return k8s.Get(context.Background(), verifierKey(), dep) }).
		WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return dep
}

func TestTheVerifierRunsLockedDown(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dep := deployedVerifier(g)
	wantLabels := map[string]string{
		"app.kubernetes.io/name":      VerifierName,
		"app.kubernetes.io/component": "verifier",
		ManagedByLabel:                ManagedByValue,
	}
	for _, obj := range verifierKinds() {
		g.Expect(k8s.Get(ctx, verifierKey(), obj)).To(Succeed(), "%T", obj)
		for k, v := range wantLabels {
			g.Expect(obj.GetLabels()).To(HaveKeyWithValue(k, v), "%T", obj)
		}
	}

	g.Expect(dep.Spec.Replicas).To(HaveValue(Equal(int32(DefaultVerifierReplicas))))
	g.Expect(dep.Spec.Strategy.RollingUpdate.MaxUnavailable).To(HaveValue(Equal(intstr.FromInt32(0))))
	pod := dep.Spec.Template.Spec
	g.Expect(metav1.LabelSelectorAsMap(dep.Spec.Selector)).To(Equal(dep.Spec.Template.Labels))
	g.Expect(pod.ServiceAccountName).To(Equal(VerifierName))
	g.Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
	g.Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
	g.Expect(pod.Volumes).To(BeEmpty(), "no ConfigMap configured")
	g.Expect(pod.Containers).To(HaveLen(1))

	c := pod.Containers[0]
	g.Expect(c.Image).To(Equal(testVerifierDeployment(verifierNamespace).Image))
	g.Expect(c.Args).To(Equal([]string{"verifier", "--namespace=" + verifierNamespace,
		"--bind-address=:8080", "--public-bind-address=:8083", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8082"}))
	for _, path := range []string{"metadata.namespace", "metadata.name", "metadata.uid"} {
		g.Expect(c.Env).To(ContainElement(HaveField("ValueFrom.FieldRef.FieldPath", path)))
	}
	sc := c.SecurityContext
	g.Expect(sc.RunAsNonRoot).To(HaveValue(BeTrue()))
	g.Expect(sc.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
	g.Expect(sc.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
	g.Expect(sc.Capabilities.Drop).To(Equal([]corev1.Capability{"ALL"}))
	g.Expect(sc.Capabilities.Add).To(BeEmpty())
	g.Expect(sc.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
	g.Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
	g.Expect(c.LivenessProbe.HTTPGet.Port).To(Equal(intstr.FromInt32(8081)))
	g.Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
	g.Expect(c.ReadinessProbe.HTTPGet.Port).To(Equal(intstr.FromInt32(8081)))
	g.Expect(c.Resources.Requests.Cpu().Equal(resource.MustParse("100m"))).To(BeTrue())
	g.Expect(c.Resources.Requests.Memory().Equal(resource.MustParse("64Mi"))).To(BeTrue())
	g.Expect(c.Resources.Limits.Memory().Equal(resource.MustParse("256Mi"))).To(BeTrue())
	g.Expect(c.Resources.Limits).NotTo(HaveKey(corev1.ResourceCPU), "PBKDF2 must not be throttled")

	svc := &corev1.Service{}
	g.Expect(k8s.Get(ctx, verifierKey(), svc)).To(Succeed())
	g.Expect(svc.Spec.Selector).To(Equal(dep.Spec.Template.Labels))
	g.Expect(svc.Spec.Ports).To(ConsistOf(
		And(HaveField("Name", "decisions"), HaveField("Port", int32(80)), HaveField("TargetPort", intstr.FromString("decisions"))),
		And(HaveField("Name", "public"), HaveField("Port", int32(8083)), HaveField("TargetPort", intstr.FromString("public"))),
		And(HaveField("Name", "metrics"), HaveField("Port", int32(8082)), HaveField("TargetPort", intstr.FromString("metrics"))),
	))
	g.Expect(c.Ports).To(ContainElements(
		And(HaveField("Name", "decisions"), HaveField("ContainerPort", int32(8080))),
		And(HaveField("Name", "public"), HaveField("ContainerPort", int32(8083))),
		And(HaveField("Name", "metrics"), HaveField("ContainerPort", int32(8082))),
	))

	pdb := &policyv1.PodDisruptionBudget{}
	g.Expect(k8s.Get(ctx, verifierKey(), pdb)).To(Succeed())
	g.Expect(metav1.LabelSelectorAsMap(pdb.Spec.Selector)).To(Equal(dep.Spec.Template.Labels))
	g.Expect(pdb.Spec.MaxUnavailable).To(HaveValue(Equal(intstr.FromInt32(1))))
	g.Expect(pdb.Spec.MinAvailable).To(BeNil())
}

// The Role is what a verifier compromised through its request path could
// use, so the test asks the API server's authorizer, not only the rules.
func TestTheVerifierMayOnlyReadSecretsAndWriteUsageInItsNamespace(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	deployedVerifier(g)
	role := &rbacv1.Role{}
	g.Expect(k8s.Get(ctx, verifierKey(), role)).To(Succeed())
	g.Expect(role.Rules).To(Equal([]rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create", "patch"}},
	}))
	binding := &rbacv1.RoleBinding{}
	g.Expect(k8s.Get(ctx, verifierKey(), binding)).To(Succeed())
	g.Expect(binding.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: VerifierName}))
	g.Expect(binding.Subjects).To(Equal([]rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: VerifierName, Namespace: verifierNamespace}}))

	other := newNamespace(t)
	verifierUser := "system:serviceaccount:" + verifierNamespace + ":" + VerifierName
	for _, c := range []struct {
		namespace, verb, resource string
		allowed                   bool
	}{
		{verifierNamespace, "get", "secrets", false},
		{verifierNamespace, "list", "secrets", true},
		{verifierNamespace, "watch", "secrets", true},
		{verifierNamespace, "create", "secrets", false},
		{verifierNamespace, "update", "secrets", false},
		{verifierNamespace, "delete", "secrets", false},
		{verifierNamespace, "create", "configmaps", true},
		{verifierNamespace, "patch", "configmaps", true},
		{verifierNamespace, "get", "configmaps", false},
		{verifierNamespace, "list", "configmaps", false},
		{verifierNamespace, "watch", "configmaps", false},
		{verifierNamespace, "update", "configmaps", false},
		{verifierNamespace, "delete", "configmaps", false},
		{other, "list", "secrets", false},
		{other, "create", "configmaps", false},
		{other, "patch", "configmaps", false},
	} {
		g.Eventually(func(g Gomega) {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: verifierUser,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: c.namespace, Verb: c.verb, Resource: c.resource,
				},
			}}
			g.Expect(k8s.Create(ctx, sar)).To(Succeed())
			g.Expect(sar.Status.Allowed).To(Equal(c.allowed), "%s %s in %s", c.verb, c.resource, c.namespace)
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	}
}

func TestTheVerifiersObjectsComeBack(t *testing.T) {
	ctx := context.Background()
	for _, obj := range verifierKinds() {
		kind := fmt.Sprintf("%T", obj)
		t.Run(kind[strings.LastIndex(kind, ".")+1:], func(t *testing.T) {
			g := NewWithT(t)
			deployedVerifier(g)
			g.Expect(k8s.Get(ctx, verifierKey(), obj)).To(Succeed())
			uid := obj.GetUID()
			g.Expect(k8s.Delete(ctx, obj)).To(Succeed())
			g.Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, verifierKey(), obj)).To(Succeed())
				g.Expect(obj.GetUID()).NotTo(Equal(uid))
			}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		})
	}

	t.Run("a changed field the manager owns", func(t *testing.T) {
		g := NewWithT(t)
		dep := deployedVerifier(g)
		patch := client.MergeFrom(dep.DeepCopy())
		dep.Spec.Replicas = ptr.To[int32](5)
		g.Expect(k8s.Patch(ctx, dep, patch)).To(Succeed())
		g.Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, verifierKey(), dep)).To(Succeed())
			g.Expect(dep.Spec.Replicas).To(HaveValue(Equal(int32(DefaultVerifierReplicas))))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})
}

// setVerifierReplicasAvailable writes the Deployment status the
// Deployment controller would, which envtest does not run.
func setVerifierReplicasAvailable(g Gomega, n int32) {
	status := metav1.ConditionFalse
	if n > 0 {
		status = metav1.ConditionTrue
	}
	g.Eventually(func(g Gomega) {
		dep := &appsv1.Deployment{}
		g.Expect(k8s.Get(context.Background(), verifierKey(), dep)).To(Succeed())
		dep.Status = appsv1.DeploymentStatus{
			ObservedGeneration: dep.Generation,
			Replicas:           n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentAvailable, Status: corev1.ConditionStatus(status),
				Reason: "MinimumReplicasAvailable", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
			}},
		}
		g.Expect(k8s.Status().Update(context.Background(), dep)).To(Succeed())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

func verifierAvailableMetric(g *WithT) float64 {
	m := &dto.Metric{}
	g.Expect(verifierAvailable.Write(m)).To(Succeed())
	return m.GetGauge().GetValue()
}

func waitForVerifierCondition(g *WithT, key *keywardv1.APIKey, status metav1.ConditionStatus, reason string) {
	g.Eventually(func(g Gomega) {
		got := &keywardv1.APIKey{}
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
		c := meta.FindStatusCondition(got.Status.Conditions, keywardv1.VerifierAvailableCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(status))
		g.Expect(c.Reason).To(Equal(reason))
		g.Expect(c.Message).To(ContainSubstring(verifierNamespace + "/" + VerifierName))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

func TestEveryKeySaysWhetherTheVerifierIsAvailable(t *testing.T) {
	g := NewWithT(t)
	deployedVerifier(g)
	t.Cleanup(func() { setVerifierReplicasAvailable(NewWithT(t), 0) })
	ns := newNamespace(t)
	first := createReady(g, newAPIKey(ns, "first"))
	second := createReady(g, newAPIKey(ns, "second"))
	// Nothing runs pods in envtest: the Deployment never has a replica
	// until the test says so.
	for _, key := range []*keywardv1.APIKey{first, second} {
		waitForVerifierCondition(g, key, metav1.ConditionFalse, keywardv1.VerifierUnavailableReason)
	}
	g.Expect(verifierAvailableMetric(g)).To(BeZero())

	setVerifierReplicasAvailable(g, 1)
	for _, key := range []*keywardv1.APIKey{first, second} {
		waitForVerifierCondition(g, key, metav1.ConditionTrue, keywardv1.VerifierAvailableReason)
		g.Eventually(func(g Gomega) {
			g.Expect(eventsFor(g, key)).To(HaveKeyWithValue(keywardv1.VerifierAvailableReason, HaveLen(1)))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	}
	g.Expect(verifierAvailableMetric(g)).To(Equal(1.0))
	// Ready describes the key itself, not the verifier.
	waitFor(g, first, keywardv1.KeyReadyReason)

	setVerifierReplicasAvailable(g, 0)
	for _, key := range []*keywardv1.APIKey{first, second} {
		waitForVerifierCondition(g, key, metav1.ConditionFalse, keywardv1.VerifierUnavailableReason)
		g.Eventually(func(g Gomega) {
			events := eventsFor(g, key)
			g.Expect(events).To(HaveKeyWithValue(keywardv1.VerifierUnavailableReason, HaveLen(1)))
			g.Expect(events).To(HaveKeyWithValue(keywardv1.VerifierAvailableReason, HaveLen(1)))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	}
	g.Expect(verifierAvailableMetric(g)).To(BeZero())
}

// A manager that does not deploy the verifier cannot tell whether it is
// available, so it removes what an earlier configuration reported; one
// that has not observed it yet leaves the condition as it is.
func TestTheVerifierConditionWithoutAnObservation(t *testing.T) {
	withCondition := func() *apiKeyState {
		key := newAPIKey("ns", "k")
		meta.SetStatusCondition(&key.Status.Conditions, metav1.Condition{
			Type: keywardv1.VerifierAvailableCondition, Status: metav1.ConditionTrue, Reason: keywardv1.VerifierAvailableReason,
		})
		return newAPIKeyState(key, metav1.Now().Time)
	}
	for name, c := range map[string]struct {
		verifier *VerifierAvailability
		kept     bool
	}{
		"not deployed by the manager": {verifier: nil, kept: false},
		"not observed yet":            {verifier: &VerifierAvailability{}, kept: true},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := withCondition()
			_, err := (&APIKeyReconciler{Verifier: c.verifier}).reportVerifier(context.Background(), s)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.condition(s.key, keywardv1.VerifierAvailableCondition) != nil).To(Equal(c.kept))
		})
	}
}

func TestTheVerifierReadsItsConfigMap(t *testing.T) {
	g := NewWithT(t)
	v := testVerifierDeployment("ns")
	v.ConfigMap = "verifier-settings"
	pod := v.deployment().Spec.Template.Spec
	c := pod.Containers[0]
	g.Expect(c.Args).To(ContainElement("--config=/etc/keyward/verifier.yaml"))
	g.Expect(c.VolumeMounts).To(HaveLen(1))
	g.Expect(*c.VolumeMounts[0].MountPath).To(Equal("/etc/keyward"))
	g.Expect(*c.VolumeMounts[0].ReadOnly).To(BeTrue())
	g.Expect(pod.Volumes).To(HaveLen(1))
	g.Expect(*pod.Volumes[0].Name).To(Equal(*c.VolumeMounts[0].Name))
	g.Expect(*pod.Volumes[0].ConfigMap.Name).To(Equal("verifier-settings"))
	g.Expect(pod.Volumes[0].ConfigMap.Items).To(BeEmpty(), "every key is mounted, so the configuration can name the CA bundles beside it")
}

func TestTheVerifierMountsItsRedisSecret(t *testing.T) {
	g := NewWithT(t)
	v := testVerifierDeployment("ns")
	v.ConfigMap, v.RedisSecret = "verifier-settings", "verifier-redis"
	pod := v.deployment().Spec.Template.Spec
	c := pod.Containers[0]
	g.Expect(c.VolumeMounts).To(HaveLen(2), "the ConfigMap and the Secret")
	g.Expect(pod.Volumes).To(HaveLen(2))
	mount, volume := c.VolumeMounts[1], pod.Volumes[1]
	g.Expect(*mount.MountPath).To(Equal("/etc/keyward-redis"))
	g.Expect(*mount.ReadOnly).To(BeTrue())
	g.Expect(*volume.Name).To(Equal(*mount.Name))
	g.Expect(*volume.Secret.SecretName).To(Equal("verifier-redis"))
	g.Expect(*pod.Volumes[0].Name).NotTo(Equal(*volume.Name))
}

// TestTheManagersRBACSufficesToDeployTheVerifier applies the verifier as a
// user that holds exactly the generated config/rbac/role.yaml: its
// ClusterRole, and its Role of the verifier namespace. Creating a Role
// that grants Secrets list/watch, and binding it, passes the API server's
// escalation check only because the manager holds those verbs itself;
// without the ClusterRole the same apply is refused.
func TestTheManagersRBACSufficesToDeployTheVerifier(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	clusterRules, namespacedRules := generatedManagerRules(t)
	user := "system:serviceaccount:" + ns + ":manager"
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}

	g.Expect(k8s.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "manager"}, Rules: namespacedRules})).To(Succeed())
	g.Expect(k8s.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "manager"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "manager"},
		Subjects:   subject,
	})).To(Succeed())
	cfg := rest.CopyConfig(testEnv.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	asManager, err := client.New(cfg, client.Options{Scheme: testScheme()})
	g.Expect(err).NotTo(HaveOccurred())
	d := &VerifierDeployer{Client: asManager, Config: testVerifierDeployment(ns)}

	// The namespaced Role alone: everything but the escalation.
	g.Eventually(func(g Gomega) {
		_, err := d.apply(ctx)
		g.Expect(err).To(HaveOccurred())
		g.Expect(err.Error()).To(ContainSubstring("applying the verifier's Role"))
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), err.Error())
		g.Expect(err.Error()).NotTo(ContainSubstring("applying the verifier's Deployment"))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

	clusterRole := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "manager-" + ns}, Rules: clusterRules}
	clusterBinding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "manager-" + ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole.Name},
		Subjects:   subject,
	}
	for _, obj := range []client.Object{clusterRole, clusterBinding} {
		g.Expect(k8s.Create(ctx, obj)).To(Succeed())
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
	}
	g.Eventually(func(g Gomega) {
		available, err := d.apply(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(available).To(HaveValue(BeZero()))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	for _, obj := range verifierKinds() {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: VerifierName}, obj)).To(Succeed(), "%T", obj)
	}

	// The self-managed certificate: its CA in the manager's namespace, the
	// serving pair in the verifier's.
	d.Config.TLS = &VerifierTLS{Secret: DefaultVerifierTLSSecret, SelfManaged: true, ManagerNamespace: newNamespace(t)}
	_, err = d.ensureServingCertificate(ctx, time.Now())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: DefaultVerifierTLSSecret}, &corev1.Secret{})).To(Succeed())
}

// generatedManagerRules reads the ClusterRole and the Role of the verifier
// namespace (namespace "verifier") that make manifests generates from the
// +kubebuilder:rbac markers.
func generatedManagerRules(t *testing.T) (cluster, namespaced []rbacv1.PolicyRule) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var obj struct {
			Kind     string              `json:"kind"`
			Metadata metav1.ObjectMeta   `json:"metadata"`
			Rules    []rbacv1.PolicyRule `json:"rules"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		switch obj.Kind {
		case "ClusterRole":
			cluster = obj.Rules
		case "Role":
			if obj.Metadata.Namespace == "verifier" {
				namespaced = obj.Rules
			}
		}
	}
	if cluster == nil || namespaced == nil {
		t.Fatal("config/rbac/role.yaml lacks the ClusterRole or the Role of namespace verifier: run make manifests")
	}
	return cluster, namespaced
}

// On the host network, two replicas on one node share the ports, which
// container ports would forbid (they become host ports there); the API
// server's defaulting is part of what is tested, so the objects are applied.
func TestAVerifierOnTheHostNetworkSharesItsPorts(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	const ns = "verifier-host-network"
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	v := testVerifierDeployment(ns)
	v.HostNetwork = true
	v.Env = []corev1.EnvVar{{Name: "KUBERNETES_SERVICE_HOST", Value: "127.0.0.1"}, {Name: "KUBERNETES_SERVICE_PORT", Value: "6443"}}
	for _, obj := range []runtime.ApplyConfiguration{v.deployment(), v.service()} {
		g.Expect(k8s.Apply(ctx, obj, client.FieldOwner("test"), client.ForceOwnership)).To(Succeed())
	}

	dep := &appsv1.Deployment{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: VerifierName}, dep)).To(Succeed())
	pod := dep.Spec.Template.Spec
	g.Expect(pod.HostNetwork).To(BeTrue())
	g.Expect(pod.DNSPolicy).To(Equal(corev1.DNSClusterFirstWithHostNet))
	c := pod.Containers[0]
	g.Expect(c.Ports).To(BeEmpty(), "no host ports: a second replica on the node must schedule")
	g.Expect(c.Args).To(ContainElement("--reuse-port"))
	g.Expect(c.Env).To(ContainElements(
		corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: "127.0.0.1"},
		corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: "6443"}))
	g.Expect(c.ReadinessProbe.HTTPGet.Port).To(Equal(intstr.FromInt32(verifierProbePort)))

	svc := &corev1.Service{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: VerifierName}, svc)).To(Succeed())
	g.Expect(svc.Spec.Ports).To(ConsistOf(
		HaveField("TargetPort", intstr.FromInt32(verifierHTTPPort)),
		HaveField("TargetPort", intstr.FromInt32(verifierPublicPort)),
		HaveField("TargetPort", intstr.FromInt32(verifierMetricsPort))))
}
