package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"

	"github.com/keyward-dev/keyward/internal/verifierflags"
)

// VerifierName names every object of the verifier the manager deploys:
// ServiceAccount, Role, RoleBinding, Deployment, Service and
// PodDisruptionBudget.
const VerifierName = "keyward-verifier"

// The verifier's ports and files; its command line is
// internal/verifierflags, which `keyward verifier` parses.
const (
	verifierHTTPPort    = verifierflags.HTTPPort
	verifierPublicPort  = verifierflags.PublicPort
	verifierProbePort   = verifierflags.ProbePort
	verifierMetricsPort = verifierflags.MetricsPort
	// VerifierConfigDir is where the ConfigMap --verifier-config-map is
	// mounted; VerifierConfigKey is the ConfigMap key the verifier reads.
	VerifierConfigDir = "/etc/keyward"
	VerifierConfigKey = "verifier.yaml"
)

// DefaultVerifierReplicas keeps a verifier answering while one pod is
// rescheduled or rolled.
const DefaultVerifierReplicas = 2

const (
	nameLabel      = "app.kubernetes.io/name"
	componentLabel = "app.kubernetes.io/component"
)

// VerifierDeployment is the manager's configuration of the verifier it
// runs (flags --verifier-*).
type VerifierDeployment struct {
	// Namespace is the verifier's namespace, where the key records are.
	Namespace string
	// Image is keyward's image: the verifier is the manager's binary.
	Image string
	// Replicas: zero means DefaultVerifierReplicas.
	Replicas int32
	// Resources of the verifier container, usually
	// DefaultVerifierResources.
	Resources corev1.ResourceRequirements
	// ConfigMap, when set, names a ConfigMap in Namespace whose key
	// verifier.yaml becomes the verifier's --config.
	ConfigMap string
	// HostNetwork runs the verifier in its node's network namespace, for
	// clusters whose callers cannot reach the pod network. Replicas on one
	// node then share its ports (the verifier's --reuse-port), so the pods
	// declare no container ports: on the host network those would become
	// host ports, which the scheduler grants once per node.
	HostNetwork bool
	// RedisSecret, when set, names a Secret in Namespace mounted at
	// VerifierRedisSecretDir, for the files of the connection to Redis.
	RedisSecret string
	// GeoIP, when set, is the volume mounted read-only at VerifierGeoIPDir
	// that holds the GeoIP database the verifier's configuration names
	// (geoip.databasePath): a PersistentVolumeClaim or any other source
	// (VerifierGeoIPSource).
	GeoIP *corev1.VolumeSource
	// Env is added to the verifier container's environment; with
	// HostNetwork it carries the API server's address when the cluster's
	// Service address is not reachable from the host.
	Env []corev1.EnvVar
	// TLS, when set, makes the request ports serve TLS.
	TLS *VerifierTLS
}

// DefaultVerifierResources requests what an idle verifier needs and sets
// no CPU limit: PBKDF2 takes 0.1–0.2 s of a core on a key's first use,
// and CFS throttling would stretch that past a proxy's auth timeout
// (Envoy's is 200 ms) while the node has idle CPU. Memory is limited: the
// verifier's in-memory maps have hard caps, so growth past the limit is a
// fault worth a restart.
func DefaultVerifierResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("256Mi"),
		},
	}
}

func (v VerifierDeployment) replicas() int32 {
	if v.Replicas == 0 {
		return DefaultVerifierReplicas
	}
	return v.Replicas
}

// selectorLabels select the verifier's pods. They are part of the
// Deployment's immutable selector: never change them.
func (v VerifierDeployment) selectorLabels() map[string]string {
	return map[string]string{nameLabel: VerifierName, componentLabel: "verifier"}
}

// labels mark the objects keyward writes; the manager's cache holds only
// objects that carry ManagedByLabel.
func (v VerifierDeployment) labels() map[string]string {
	l := v.selectorLabels()
	l[ManagedByLabel] = ManagedByValue
	return l
}

// args is the verifier's command line.
func (v VerifierDeployment) args() []string {
	config := ""
	if v.ConfigMap != "" {
		config = VerifierConfigDir + "/" + VerifierConfigKey
	}
	return append([]string{"verifier"}, verifierflags.Deployed(v.Namespace, config, v.HostNetwork, v.tlsFlags()).Args()...)
}

func (v VerifierDeployment) serviceAccount() *corev1ac.ServiceAccountApplyConfiguration {
	return corev1ac.ServiceAccount(VerifierName, v.Namespace).WithLabels(v.labels())
}

// role lets the verifier read key records and signing keys and write its
// usage report, and nothing else: exactly what `keyward verifier` calls.
// Its informers list and watch Secrets by label and its heartbeat watches
// the records' recent changes; it never gets a Secret by name. RBAC cannot narrow a list
// by label, so the verifier can read every Secret of its namespace: that
// namespace must hold nothing else (the manager's certificate and Lease
// live in the manager's own). Each replica's report is named after its
// pod, so writing cannot be narrowed by resourceNames either; server-side
// apply needs only patch, and create for the first write; the verifier
// never reads, lists or deletes ConfigMaps, and writes no Events.
func (v VerifierDeployment) role() *rbacv1ac.RoleApplyConfiguration {
	return rbacv1ac.Role(VerifierName, v.Namespace).WithLabels(v.labels()).
		WithRules(
			rbacv1ac.PolicyRule().
				WithAPIGroups("").
				WithResources("secrets").
				WithVerbs("list", "watch"),
			rbacv1ac.PolicyRule().
				WithAPIGroups("").
				WithResources("configmaps").
				WithVerbs("create", "patch"))
}

func (v VerifierDeployment) roleBinding() *rbacv1ac.RoleBindingApplyConfiguration {
	return rbacv1ac.RoleBinding(VerifierName, v.Namespace).WithLabels(v.labels()).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("Role").WithName(VerifierName)).
		WithSubjects(rbacv1ac.Subject().WithKind(rbacv1.ServiceAccountKind).WithName(VerifierName).WithNamespace(v.Namespace))
}

// deployment runs the verifier. Rollouts surge one pod and take none away
// (maxUnavailable 0): the verifier is on the request path, and a new pod
// serves only once its record informer has synced (/readyz).
func (v VerifierDeployment) deployment() *appsv1ac.DeploymentApplyConfiguration {
	return appsv1ac.Deployment(VerifierName, v.Namespace).WithLabels(v.labels()).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(v.replicas()).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(v.selectorLabels())).
			WithStrategy(appsv1ac.DeploymentStrategy().
				WithType(appsv1.RollingUpdateDeploymentStrategyType).
				WithRollingUpdate(appsv1ac.RollingUpdateDeployment().
					WithMaxSurge(intstr.FromInt32(1)).
					WithMaxUnavailable(intstr.FromInt32(0)))).
			WithTemplate(v.podTemplate()))
}

func (v VerifierDeployment) podTemplate() *corev1ac.PodTemplateSpecApplyConfiguration {
	spec := corev1ac.PodSpec().
		WithServiceAccountName(VerifierName).
		// Service links would put an environment variable per Service
		// of the namespace into the verifier; it reads none.
		WithEnableServiceLinks(false).
		WithSecurityContext(corev1ac.PodSecurityContext().
			WithRunAsNonRoot(true).
			WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
		// Spread replicas over nodes where possible, so that one node
		// going away leaves a verifier; never at the cost of not
		// scheduling.
		WithTopologySpreadConstraints(corev1ac.TopologySpreadConstraint().
			WithMaxSkew(1).
			WithTopologyKey(corev1.LabelHostname).
			WithWhenUnsatisfiable(corev1.ScheduleAnyway).
			WithLabelSelector(metav1ac.LabelSelector().WithMatchLabels(v.selectorLabels()))).
		WithContainers(v.container())
	if v.HostNetwork {
		// Cluster DNS stays the resolver, as for the other pods.
		spec.WithHostNetwork(true).WithDNSPolicy(corev1.DNSClusterFirstWithHostNet)
	}
	if v.ConfigMap != "" {
		// The whole ConfigMap, so that the configuration can name files
		// beside it: the CA bundles of its client-certificate authorities
		// are public and belong with it.
		spec.WithVolumes(corev1ac.Volume().WithName("config").
			WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(v.ConfigMap)))
	}
	tlsVolumes, _ := v.tlsVolumes()
	spec.WithVolumes(tlsVolumes...)
	redisVolumes, _ := v.redisSecretVolumes()
	spec.WithVolumes(redisVolumes...)
	geoIPVolumes, _ := v.geoIPVolumes()
	spec.WithVolumes(geoIPVolumes...)
	return corev1ac.PodTemplateSpec().WithLabels(v.selectorLabels()).WithSpec(spec)
}

func (v VerifierDeployment) container() *corev1ac.ContainerApplyConfiguration {
	resources := corev1ac.ResourceRequirements()
	if len(v.Resources.Requests) > 0 {
		resources.WithRequests(v.Resources.Requests)
	}
	if len(v.Resources.Limits) > 0 {
		resources.WithLimits(v.Resources.Limits)
	}
	c := corev1ac.Container().
		WithName("verifier").
		WithImage(v.Image).
		WithArgs(v.args()...).
		// The namespace is what the verifier enforces; the Pod's name and
		// UID name its usage report and make the Pod own it, so that a
		// report goes away with its replica.
		WithEnv(fieldEnv("POD_NAMESPACE", "metadata.namespace"), fieldEnv("POD_NAME", "metadata.name"), fieldEnv("POD_UID", "metadata.uid"))
	for _, e := range v.Env {
		c.WithEnv(corev1ac.EnvVar().WithName(e.Name).WithValue(e.Value))
	}
	if !v.HostNetwork {
		c.WithPorts(
			corev1ac.ContainerPort().WithName("decisions").WithContainerPort(verifierHTTPPort).WithProtocol(corev1.ProtocolTCP),
			corev1ac.ContainerPort().WithName("public").WithContainerPort(verifierPublicPort).WithProtocol(corev1.ProtocolTCP),
			corev1ac.ContainerPort().WithName("health").WithContainerPort(verifierProbePort).WithProtocol(corev1.ProtocolTCP),
			corev1ac.ContainerPort().WithName("metrics").WithContainerPort(verifierMetricsPort).WithProtocol(corev1.ProtocolTCP))
	}
	c.WithSecurityContext(corev1ac.SecurityContext().
		WithRunAsNonRoot(true).
		WithReadOnlyRootFilesystem(true).
		WithAllowPrivilegeEscalation(false).
		WithCapabilities(corev1ac.Capabilities().WithDrop("ALL")).
		WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
		WithLivenessProbe(corev1ac.Probe().
			WithHTTPGet(corev1ac.HTTPGetAction().WithPath("/healthz").WithPort(intstr.FromInt32(verifierProbePort))).
			WithInitialDelaySeconds(15).
			WithPeriodSeconds(20)).
		// Not ready until the first sync of the record informer: a
		// verifier that has not seen the records would deny every key.
		WithReadinessProbe(corev1ac.Probe().
			WithHTTPGet(corev1ac.HTTPGetAction().WithPath("/readyz").WithPort(intstr.FromInt32(verifierProbePort))).
			WithPeriodSeconds(5)).
		WithResources(resources)
	if v.ConfigMap != "" {
		c.WithVolumeMounts(corev1ac.VolumeMount().WithName("config").WithMountPath(VerifierConfigDir).WithReadOnly(true))
	}
	_, tlsMounts := v.tlsVolumes()
	c.WithVolumeMounts(tlsMounts...)
	_, redisMounts := v.redisSecretVolumes()
	c.WithVolumeMounts(redisMounts...)
	_, geoIPMounts := v.geoIPVolumes()
	c.WithVolumeMounts(geoIPMounts...)
	return c
}

// service targets the container ports by name, or by number on the host
// network, where the pods declare none. Port 80 ("decisions") is the one
// proxies are configured with; "public" (8083) carries the OAuth endpoints,
// the only port to route clients to.
func (v VerifierDeployment) service() *corev1ac.ServiceApplyConfiguration {
	httpPort, publicPort, metricsPort := intstr.FromString("decisions"), intstr.FromString("public"), intstr.FromString("metrics")
	if v.HostNetwork {
		httpPort, publicPort, metricsPort = intstr.FromInt32(verifierHTTPPort), intstr.FromInt32(verifierPublicPort), intstr.FromInt32(verifierMetricsPort)
	}
	return corev1ac.Service(VerifierName, v.Namespace).WithLabels(v.labels()).
		WithSpec(corev1ac.ServiceSpec().
			WithSelector(v.selectorLabels()).
			WithPorts(
				corev1ac.ServicePort().WithName("decisions").WithPort(80).
					WithTargetPort(httpPort).WithProtocol(corev1.ProtocolTCP),
				corev1ac.ServicePort().WithName("public").WithPort(verifierPublicPort).
					WithTargetPort(publicPort).WithProtocol(corev1.ProtocolTCP),
				corev1ac.ServicePort().WithName("metrics").WithPort(verifierMetricsPort).
					WithTargetPort(metricsPort).WithProtocol(corev1.ProtocolTCP)))
}

// podDisruptionBudget lets a drain evict one verifier pod at a time,
// whatever the replica count: with two or more replicas the others keep
// answering; with one, blocking eviction (minAvailable 1, maxUnavailable
// 0) would block every drain of its node, which a single replica cannot
// justify. Pods that are not ready may always be evicted, so a crashing
// verifier never blocks a drain either.
func (v VerifierDeployment) podDisruptionBudget() *policyv1ac.PodDisruptionBudgetApplyConfiguration {
	return policyv1ac.PodDisruptionBudget(VerifierName, v.Namespace).WithLabels(v.labels()).
		WithSpec(policyv1ac.PodDisruptionBudgetSpec().
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(v.selectorLabels())).
			WithMaxUnavailable(intstr.FromInt32(1)).
			WithUnhealthyPodEvictionPolicy(policyv1.AlwaysAllow))
}

func fieldEnv(name, path string) *corev1ac.EnvVarApplyConfiguration {
	return corev1ac.EnvVar().WithName(name).
		WithValueFrom(corev1ac.EnvVarSource().WithFieldRef(corev1ac.ObjectFieldSelector().WithFieldPath(path)))
}
