package install

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/verifier"
)

// chartDir is the chart under test.
var chartDir = testutil.RepoPath("charts", "keyward")

// chartValueSet is one way to install the chart: its values, and what
// they must have changed in the rendered objects.
type chartValueSet struct {
	name string
	// values is a values file; the release namespace is helm-<name> and
	// values pick verifier namespaces of their own, so that no set
	// collides with another or with the installers' keyward-system.
	values string
	// existing is applied with the chart's output: what an operator has
	// created before installing (a verifier namespace the chart does not
	// create).
	existing string
	check    func(g Gomega, r rendered)
}

// rendered is the chart's output for one value set.
type rendered struct {
	namespace string
	objs      []*unstructured.Unstructured
	manager   *appsv1.Deployment
	tempDir   string
}

func (r rendered) args() []string { return r.manager.Spec.Template.Spec.Containers[0].Args }

// TestChartValueSetsApplyToARealAPIServer renders the chart with each value
// set as `helm install` would, lints it with those values, dry-runs the
// output against envtest (with cert-manager's CRDs) and checks the values
// took effect.
func TestChartValueSetsApplyToARealAPIServer(t *testing.T) {
	helm := helmBinary(t)
	needAPIServer(t)
	for _, set := range chartValueSets() {
		t.Run(set.name, func(t *testing.T) {
			g := NewWithT(t)
			values := filepath.Join(t.TempDir(), "values.yaml")
			g.Expect(os.WriteFile(values, []byte(set.values), 0o600)).To(Succeed())
			namespace := "helm-" + set.name

			out, err := runHelm(t, helm, "lint", "--strict", "--namespace", namespace, "-f", values, chartDir)
			g.Expect(err).NotTo(HaveOccurred(), out)

			manifests, err := runHelm(t, helm, "template", "keyward", chartDir,
				"--namespace", namespace, "--include-crds", "-f", values)
			g.Expect(err).NotTo(HaveOccurred(), manifests)
			// helm install --create-namespace creates the release
			// namespace; a dry run needs it as an object.
			applied := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + namespace + "\n---\n" + set.existing + "\n---\n" + manifests
			g.Expect(testutil.ServerSideDryRun(context.Background(), k8s, []byte(applied), fieldManager)).To(Succeed())

			objs, err := testutil.DecodeManifests([]byte(manifests))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(names(objs, "CustomResourceDefinition")).To(ConsistOf(
				"apikeys.keyward.dev", "signingkeys.keyward.dev", "keypolicies.keyward.dev"))
			manager := deployment(g, objs, "keyward-controller-manager")
			g.Expect(manager.Namespace).To(Equal(namespace))
			g.Expect(manager.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--leader-elect"))
			set.check(g, rendered{namespace: namespace, objs: objs, manager: manager, tempDir: t.TempDir()})
		})
	}
}

func chartValueSets() []chartValueSet {
	return []chartValueSet{{
		name:   "defaults",
		values: "verifier:\n  namespace: helm-defaults-verifier\n",
		check: func(g Gomega, r rendered) {
			g.Expect(webhookSecretSources(r.objs)).To(ConsistOf("Secret"))
			g.Expect(names(r.objs, "Certificate")).To(BeEmpty())
			g.Expect(names(r.objs, "Namespace")).To(ConsistOf("helm-defaults-verifier"))
			g.Expect(names(r.objs, "KeyPolicy")).To(BeEmpty())
			g.Expect(names(r.objs, "ConfigMap")).To(BeEmpty(), "no verifier configuration without values for it")
			g.Expect(r.args()).To(ContainElement("--verifier-namespace=helm-defaults-verifier"))
			g.Expect(r.args()).NotTo(ContainElement(HavePrefix("--webhook-cert-mode")))
			g.Expect(r.args()).NotTo(ContainElement(HavePrefix("--verifier-tls")))
			g.Expect(*r.manager.Spec.Replicas).To(BeEquivalentTo(1))
			container := r.manager.Spec.Template.Spec.Containers[0]
			g.Expect(container.Image).To(Equal("keyward:" + chartAppVersion(g)))
			g.Expect(container.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
			g.Expect(container.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
			g.Expect(r.manager.Spec.Template.Spec.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
		},
	}, {
		name: "cert-manager",
		values: `
verifier:
  namespace: helm-cert-manager-verifier
webhook:
  certificate:
    source: certManager
`,
		check: func(g Gomega, r rendered) {
			g.Expect(webhookSecretSources(r.objs)).To(ConsistOf("Certificate"))
			g.Expect(r.args()).To(ContainElement("--webhook-cert-mode=external"))
			cert := object(g, r.objs, "Certificate", r.namespace, "keyward-serving-cert")
			g.Expect(field(cert, "spec", "dnsNames")).To(ContainElement(
				"keyward-webhook-service." + r.namespace + ".svc"))
			g.Expect(field(cert, "spec", "issuerRef")).To(Equal(map[string]any{
				"kind": "Issuer", "name": "keyward-selfsigned-issuer"}))
			object(g, r.objs, "Issuer", r.namespace, "keyward-selfsigned-issuer")
			config := object(g, r.objs, "ValidatingWebhookConfiguration", "", "keyward-validating-webhook-configuration")
			g.Expect(config.GetAnnotations()).To(HaveKeyWithValue(
				"cert-manager.io/inject-ca-from", r.namespace+"/keyward-serving-cert"))
		},
	}, {
		name: "default-policy",
		values: `
verifier:
  namespace: helm-default-policy-verifier
keyPolicy:
  create: true
  name: helm-default-policy
  spec:
    allowedScopes: [acme/payments/*:read]
`,
		check: func(g Gomega, r rendered) {
			policy := object(g, r.objs, "KeyPolicy", "", "helm-default-policy")
			g.Expect(policy.GetAnnotations()).To(HaveKeyWithValue("helm.sh/hook", "post-install"),
				"created once the webhook that validates it runs, and never deleted and created again by an upgrade")
			g.Expect(field(policy, "spec", "namespaceSelector", "matchLabels")).To(Equal(
				map[string]any{"keyward.dev/key-policy": "default"}), "selects only the namespaces that opt in")
			g.Expect(field(policy, "spec", "maxLifetimeDays")).To(BeEquivalentTo(90))
			g.Expect(field(policy, "spec", "allowedScopes")).To(Equal([]any{"acme/payments/*:read"}))
		},
	}, {
		name: "redis-tls",
		values: `
verifier:
  namespace: helm-redis-tls-verifier
  config:
    realm: payments
  redis:
    enabled: true
    address: redis.helm-redis-tls-verifier.svc:6380
    username: keyward-verifier
    existingSecret: redis-credentials
    passwordKey: password
    tls:
      enabled: true
      caKey: ca.crt
      certKey: tls.crt
      keyKey: tls.key
    fallback: Deny
`,
		check: func(g Gomega, r rendered) {
			g.Expect(r.args()).To(ContainElements(
				"--verifier-config-map=keyward-verifier-config", "--verifier-redis-secret=redis-credentials"))
			config := renderedVerifierConfig(g, r, "helm-redis-tls-verifier")
			g.Expect(config.Realm).To(Equal("payments"), "verifier.config is kept beside the Redis store")
			g.Expect(config.RateLimits.Store).To(Equal("redis"))
			g.Expect(config.RateLimits.Redis).NotTo(BeNil())
			redis := *config.RateLimits.Redis
			g.Expect(redis.Address).To(Equal("redis.helm-redis-tls-verifier.svc:6380"))
			g.Expect(redis.Username).To(Equal("keyward-verifier"))
			g.Expect(redis.PasswordFile).To(Equal("/etc/keyward-redis/password"))
			g.Expect(string(redis.Fallback)).To(Equal("Deny"))
			g.Expect(redis.TLS).NotTo(BeNil())
			g.Expect(redis.TLS.CAFile).To(Equal("/etc/keyward-redis/ca.crt"))
			g.Expect(redis.TLS.CertFile).To(Equal("/etc/keyward-redis/tls.crt"))
			g.Expect(redis.TLS.KeyFile).To(Equal("/etc/keyward-redis/tls.key"))
		},
	}, {
		name: "geoip-claim",
		values: `
verifier:
  namespace: helm-geoip-claim-verifier
  geoip:
    existingClaim: geoip-data
    databaseFile: GeoLite2-City.mmdb
  analytics:
    maxKeys: 250000
`,
		check: func(g Gomega, r rendered) {
			g.Expect(r.args()).To(ContainElements("--verifier-config-map=keyward-verifier-config", "--verifier-geoip-claim=geoip-data"))
			g.Expect(r.args()).NotTo(ContainElement(HavePrefix("--usage-")), "embedded: the manager's defaults")
			config := renderedVerifierConfig(g, r, "helm-geoip-claim-verifier")
			g.Expect(config.GeoIP.DatabasePath).To(Equal("/var/lib/geoip/GeoLite2-City.mmdb"), "the file in the volume the manager mounts")
			g.Expect(config.Analytics.MaxKeys).To(Equal(250000))
			sink, err := config.ActivitySink()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sink.Aggregation).To(Equal("embedded"))
		},
	}, {
		name: "geoip-volume",
		values: `
verifier:
  namespace: helm-geoip-volume-verifier
  geoip:
    volume:
      nfs: {server: files.example.com, path: /exports/geoip}
  analytics:
    enabled: false
`,
		check: func(g Gomega, r rendered) {
			g.Expect(r.args()).To(ContainElement(`--verifier-geoip-volume={"nfs":{"path":"/exports/geoip","server":"files.example.com"}}`))
			config := renderedVerifierConfig(g, r, "helm-geoip-volume-verifier")
			g.Expect(config.GeoIP.DatabasePath).To(Equal("/var/lib/geoip/GeoLite2-Country.mmdb"))
			g.Expect(config.Analytics.Enabled).To(HaveValue(BeFalse()))
		},
	}, {
		name: "analytics-redis",
		values: `
verifier:
  namespace: helm-analytics-redis-verifier
  redis:
    enabled: true
    address: redis.data.svc:6380
    db: 4
    username: keyward
    existingSecret: redis-credentials
    passwordKey: password
    tls:
      enabled: true
      caKey: ca.crt
      serverName: redis.data.svc
  analytics:
    aggregation: redis
    managerSecret: redis-credentials-manager
`,
		check: func(g Gomega, r rendered) {
			config := renderedVerifierConfig(g, r, "helm-analytics-redis-verifier")
			sink, err := config.ActivitySink()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sink).To(Equal(verifier.ActivitySink{Aggregation: "redis", RedisAddress: "redis.data.svc:6380", RedisDB: 4, RedisPrefix: "keyward:rl:"}))
			// The manager reads the activity from where the verifiers
			// write it, with the manager's copy of the Redis files.
			g.Expect(r.args()).To(ContainElements(
				"--usage-aggregation=redis", "--usage-redis-address=redis.data.svc:6380", "--usage-redis-db=4",
				"--usage-redis-username=keyward", "--usage-redis-password-file=/etc/keyward-redis/password",
				"--usage-redis-tls", "--usage-redis-ca-file=/etc/keyward-redis/ca.crt", "--usage-redis-server-name=redis.data.svc"))
			g.Expect(r.args()).NotTo(ContainElement(HavePrefix("--usage-redis-prefix")))
			pod := r.manager.Spec.Template.Spec
			g.Expect(pod.Volumes).To(ContainElement(corev1.Volume{Name: "usage-redis",
				VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "redis-credentials-manager"}}}))
			g.Expect(pod.Containers[0].VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: "usage-redis", MountPath: "/etc/keyward-redis", ReadOnly: true}))
		},
	}, {
		name: "placement",
		values: `
verifier:
  namespace: helm-placement-verifier
replicas: 2
image:
  repository: registry.example.com/keyward
  tag: v1.2.3
  pullPolicy: Always
  pullSecrets:
  - name: registry-credentials
resources:
  requests: {cpu: 500m, memory: 256Mi}
  limits: {cpu: "2", memory: 512Mi}
nodeSelector:
  kubernetes.io/os: linux
  node-role.example.com/keyward: "true"
tolerations:
- key: dedicated
  operator: Equal
  value: keyward
  effect: NoSchedule
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            control-plane: controller-manager
extraArgs:
- --hash-concurrency=2
`,
		check: func(g Gomega, r rendered) {
			pod := r.manager.Spec.Template.Spec
			container := pod.Containers[0]
			g.Expect(*r.manager.Spec.Replicas).To(BeEquivalentTo(2))
			g.Expect(container.Image).To(Equal("registry.example.com/keyward:v1.2.3"))
			g.Expect(container.ImagePullPolicy).To(Equal(corev1.PullAlways))
			g.Expect(container.Env).To(ContainElement(corev1.EnvVar{Name: "VERIFIER_IMAGE", Value: "registry.example.com/keyward:v1.2.3"}),
				"the verifier runs the manager's image")
			g.Expect(pod.ImagePullSecrets).To(ConsistOf(corev1.LocalObjectReference{Name: "registry-credentials"}))
			g.Expect(container.Resources.Requests.Cpu().Equal(resource.MustParse("500m"))).To(BeTrue())
			g.Expect(container.Resources.Limits.Memory().Equal(resource.MustParse("512Mi"))).To(BeTrue())
			g.Expect(pod.NodeSelector).To(Equal(map[string]string{"kubernetes.io/os": "linux", "node-role.example.com/keyward": "true"}))
			g.Expect(pod.Tolerations).To(ConsistOf(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "keyward", Effect: corev1.TaintEffectNoSchedule}))
			g.Expect(pod.Affinity).NotTo(BeNil())
			g.Expect(pod.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution).To(HaveLen(1))
			g.Expect(r.args()).To(ContainElement("--hash-concurrency=2"))
		},
	}, {
		name: "verifier-tls-self-managed",
		values: `
verifier:
  namespace: helm-verifier-tls-self-managed-verifier
  tls:
    mode: selfManaged
`,
		check: func(g Gomega, r rendered) {
			g.Expect(r.args()).To(ContainElement("--verifier-tls=self-managed"))
			g.Expect(names(r.objs, "Certificate")).To(BeEmpty(), "the manager issues it")
		},
	}, {
		name: "verifier-tls-cert-manager",
		values: `
verifier:
  namespace: helm-verifier-tls-cert-manager-verifier
  createNamespace: false
  tls:
    mode: certManager
    certManager:
      issuerRef:
        kind: ClusterIssuer
        name: corporate-ca
`,
		existing: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: helm-verifier-tls-cert-manager-verifier\n",
		check: func(g Gomega, r rendered) {
			namespace := "helm-verifier-tls-cert-manager-verifier"
			g.Expect(names(r.objs, "Namespace")).To(BeEmpty(), "createNamespace: false")
			g.Expect(r.args()).To(ContainElement("--verifier-tls=secret"))
			cert := object(g, r.objs, "Certificate", namespace, "keyward-verifier-serving-cert")
			g.Expect(field(cert, "spec", "secretName")).To(Equal("keyward-verifier-tls"))
			g.Expect(field(cert, "spec", "dnsNames")).To(ContainElement("keyward-verifier." + namespace + ".svc"))
			g.Expect(field(cert, "spec", "issuerRef")).To(Equal(map[string]any{
				"kind": "ClusterIssuer", "name": "corporate-ca"}))
			g.Expect(names(r.objs, "Issuer")).To(BeEmpty(), "the issuerRef given is used")
			g.Expect(webhookSecretSources(r.objs)).To(ConsistOf("Secret"), "the webhook's certificate is still self-managed")
		},
	}}
}

// renderedVerifierConfig is the verifier's configuration the chart
// rendered into the verifier namespace, read as the verifier reads its
// --config: unknown fields are errors.
func renderedVerifierConfig(g Gomega, r rendered, namespace string) verifier.Config {
	configMap := object(g, r.objs, "ConfigMap", namespace, "keyward-verifier-config")
	text, _ := field(configMap, "data", "verifier.yaml").(string)
	file := filepath.Join(r.tempDir, "verifier.yaml")
	g.Expect(os.WriteFile(file, []byte(text), 0o600)).To(Succeed())
	config, err := verifier.LoadConfig(file)
	g.Expect(err).NotTo(HaveOccurred(), text)
	return config
}

// TestChartDefaultsInstallWhatTheInstallerInstalls renders the chart as
// `helm install keyward charts/keyward -n keyward-system` and compares it
// with dist/install.yaml, object by object, and with cert-manager's
// certificates with dist/install-cert-manager.yaml: the chart installs what
// config/default and config/cert-manager do, so a change to config/ that
// the chart misses, or an overlay that renders wrong, fails here. Only
// Helm's labels and annotations and the image differ.
func TestChartDefaultsInstallWhatTheInstallerInstalls(t *testing.T) {
	helm := helmBinary(t)
	for _, tc := range []struct {
		installer string
		values    []string
	}{
		{installer: "install.yaml"},
		// config/cert-manager: both certificates from cert-manager.
		{installer: "install-cert-manager.yaml", values: []string{
			"--set", "webhook.certificate.source=certManager", "--set", "verifier.tls.mode=certManager"}},
	} {
		t.Run(tc.installer, func(t *testing.T) {
			g := NewWithT(t)
			args := append([]string{"template", "keyward", chartDir, "--namespace", "keyward-system",
				"--include-crds", "--set", "image.tag=dev"}, tc.values...)
			manifests, err := runHelm(t, helm, args...)
			g.Expect(err).NotTo(HaveOccurred(), manifests)
			chart, err := testutil.DecodeManifests([]byte(manifests))
			g.Expect(err).NotTo(HaveOccurred())
			installer, err := os.ReadFile(testutil.RepoPath("dist", tc.installer))
			g.Expect(err).NotTo(HaveOccurred())
			dist, err := testutil.DecodeManifests(installer)
			g.Expect(err).NotTo(HaveOccurred())

			want := withoutHelmMetadata(dist)
			// helm install --create-namespace creates the release namespace.
			delete(want, objectKey{kind: "Namespace", name: "keyward-system"})
			got := withoutHelmMetadata(chart)
			// The installer leaves the pull policy to Kubernetes' default.
			manager := objectKey{kind: "Deployment", namespace: "keyward-system", name: "keyward-controller-manager"}
			g.Expect(got).To(HaveKey(manager))
			containers, _, _ := unstructured.NestedSlice(got[manager], "spec", "template", "spec", "containers")
			delete(containers[0].(map[string]any), "imagePullPolicy")
			g.Expect(unstructured.SetNestedSlice(got[manager], containers, "spec", "template", "spec", "containers")).To(Succeed())

			g.Expect(keys(got)).To(ConsistOf(keys(want)))
			for key, obj := range want {
				g.Expect(got[key]).To(Equal(obj), "%v differs from dist/%s's", key, tc.installer)
			}
		})
	}
}

type objectKey struct{ kind, namespace, name string }

func withoutHelmMetadata(objs []*unstructured.Unstructured) map[objectKey]map[string]any {
	out := map[objectKey]map[string]any{}
	for _, obj := range objs {
		obj = obj.DeepCopy()
		obj.SetLabels(nil)
		annotations := obj.GetAnnotations()
		for key := range annotations {
			if strings.HasPrefix(key, "helm.sh/") {
				delete(annotations, key)
			}
		}
		if len(annotations) == 0 {
			annotations = nil
		}
		obj.SetAnnotations(annotations)
		out[objectKey{obj.GetKind(), obj.GetNamespace(), obj.GetName()}] = obj.Object
	}
	return out
}

func keys(m map[objectKey]map[string]any) []objectKey {
	out := make([]objectKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestChartCopiesOfGeneratedFilesAreCurrent: the chart's CRDs, manager
// roles and webhook configuration are the files `make manifests`
// generates, byte for byte, and no CRD is missing or left over.
func TestChartCopiesOfGeneratedFilesAreCurrent(t *testing.T) {
	g := NewWithT(t)
	generated, err := filepath.Glob(testutil.RepoPath("config", "crd", "bases", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(generated).NotTo(BeEmpty())
	copies, err := filepath.Glob(filepath.Join(chartDir, "crds", "*"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(baseNames(copies)).To(ConsistOf(baseNames(generated)), "run make manifests")

	pairs := map[string]string{
		testutil.RepoPath("config", "rbac", "role.yaml"):         filepath.Join(chartDir, "files", "role.yaml"),
		testutil.RepoPath("config", "webhook", "manifests.yaml"): filepath.Join(chartDir, "files", "webhook.yaml"),
	}
	for _, file := range generated {
		pairs[file] = filepath.Join(chartDir, "crds", filepath.Base(file))
	}
	for original, copied := range pairs {
		want, err := os.ReadFile(original)
		g.Expect(err).NotTo(HaveOccurred())
		got, err := os.ReadFile(copied)
		g.Expect(err).NotTo(HaveOccurred(), "run make manifests")
		g.Expect(bytes.Equal(got, want)).To(BeTrue(), "%s is not %s: run make manifests", copied, original)
	}
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

// TestChartLintIsClean runs `helm lint --strict` on the chart as shipped.
func TestChartLintIsClean(t *testing.T) {
	helm := helmBinary(t)
	g := NewWithT(t)
	out, err := runHelm(t, helm, "lint", "--strict", chartDir)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("1 chart(s) linted, 0 chart(s) failed"))
	g.Expect(out).NotTo(ContainSubstring("[WARNING]"))
	g.Expect(out).NotTo(ContainSubstring("[ERROR]"))
}

// TestChartRefusesWrongValues: a wrong value stops `helm template` (and so
// `helm install`) with a message naming it, from the schema or, for rules
// between values, from the templates.
func TestChartRefusesWrongValues(t *testing.T) {
	helm := helmBinary(t)
	for _, tc := range []struct {
		name string
		set  []string
		// setJSON are --set-json values: lists and strings that --set
		// would split or could not hold.
		setJSON []string
		want    []string
	}{
		{"unknown certificate source", []string{"webhook.certificate.source=bogus"},
			nil, []string{"/webhook/certificate/source", "selfManaged", "certManager"}},
		{"negative replicas", []string{"replicas=-1"}, nil, []string{"/replicas", "minimum"}},
		{"no replicas", []string{"replicas=0"}, nil, []string{"/replicas", "minimum"}},
		{"misspelt value", []string{"replica=2"}, nil, []string{"additional properties", "replica"}},
		{"unknown verifier TLS mode", []string{"verifier.tls.mode=on"}, nil, []string{"/verifier/tls/mode", "selfManaged"}},
		{"unknown pull policy", []string{"image.pullPolicy=Sometimes"}, nil, []string{"/image/pullPolicy"}},
		{"redis without address", []string{"verifier.redis.enabled=true"}, nil, []string{"/verifier/redis/address"}},
		{"redis address without port", []string{"verifier.redis.enabled=true", "verifier.redis.address=redis"}, nil, []string{"/verifier/redis/address"}},
		{"quota sharing without replicas", []string{"verifier.redis.quotaFallback=LocalShare"}, nil, []string{"/verifier/redis/replicas"}},
		{"issuer without name", []string{"webhook.certificate.source=certManager", "webhook.certificate.certManager.issuerRef.kind=ClusterIssuer"},
			nil, []string{"/webhook/certificate/certManager/issuerRef", "name"}},
		{"extra argument that is no flag", []string{"extraArgs={manager}"}, nil, []string{"/extraArgs/0"}},
		{"verifier in the manager's namespace", []string{"verifier.namespace=helm-refused"},
			nil, []string{"verifier.namespace must not be the release namespace", "helm-refused"}},
		{"redis secret keys without the secret", []string{"verifier.redis.enabled=true", "verifier.redis.address=redis:6379", "verifier.redis.passwordKey=password"},
			nil, []string{"verifier.redis.existingSecret is empty", "password"}},
		{"client certificate without key", []string{"verifier.redis.enabled=true", "verifier.redis.address=redis:6379",
			"verifier.redis.existingSecret=redis", "verifier.redis.tls.enabled=true", "verifier.redis.tls.certKey=tls.crt"},
			nil, []string{"verifier.redis.tls.certKey and verifier.redis.tls.keyKey"}},
		{"verifier in default", []string{"verifier.namespace=default"}, nil,
			[]string{`verifier.namespace must not be "default"`, "only cluster administrators"}},
		{"verifier in kube-system", []string{"verifier.namespace=kube-system"}, nil,
			[]string{`verifier.namespace must not be "kube-system"`}},
		{"verifier in kube-public", []string{"verifier.namespace=kube-public"}, nil,
			[]string{`verifier.namespace must not be "kube-public"`}},
		{"verifier in kube-node-lease", []string{"verifier.namespace=kube-node-lease"}, nil,
			[]string{`verifier.namespace must not be "kube-node-lease"`}},
		{"extra argument turning leader election off", nil, []string{`extraArgs=["--leader-elect=false"]`},
			[]string{"extraArgs sets --leader-elect, which the chart sets"}},
		{"extra argument moving the verifier", nil, []string{`extraArgs=["--hash-concurrency=2","--verifier-namespace=team-a"]`},
			[]string{"extraArgs sets --verifier-namespace, which the chart sets", "verifier.namespace"}},
		{"extra argument for a flag the chart leaves unset", nil, []string{`extraArgs=["--verifier-tls=self-managed"]`},
			[]string{"extraArgs sets --verifier-tls, which the chart sets", "verifier.tls.mode"}},
		{"extra argument changing what the chart's objects rely on", nil, []string{`extraArgs=["--webhook-port=9444"]`},
			[]string{"extraArgs sets --webhook-port, which the chart"}},
		{"extra argument serving metrics without authentication", nil, []string{`extraArgs=["--metrics-secure=false"]`},
			[]string{"extraArgs sets --metrics-secure=false", "without authentication"}},
		{"extra argument allowing weak hashes", nil, []string{`extraArgs=["--insecure-allow-low-pbkdf2-iterations"]`},
			[]string{"extraArgs sets --insecure-allow-low-pbkdf2-iterations", "tests and development"}},
		{"key policy allowing every scope", []string{"keyPolicy.create=true"}, nil,
			[]string{"/keyPolicy/spec", "allowedScopes"}},
		{"key policy with no allowed scope", []string{"keyPolicy.create=true"}, []string{"keyPolicy.spec.allowedScopes=[]"},
			[]string{"/keyPolicy/spec/allowedScopes", "minItems"}},
		{"redis aggregation without redis", []string{"verifier.analytics.aggregation=redis"}, nil,
			[]string{"/verifier/redis/enabled", "true"}},
		{"unknown aggregation", []string{"verifier.analytics.aggregation=kafka"}, nil,
			[]string{"/verifier/analytics/aggregation", "embedded", "redis"}},
		{"negative maxKeys", []string{"verifier.analytics.maxKeys=-1"}, nil, []string{"/verifier/analytics/maxKeys", "minimum"}},
		{"redis aggregation without the manager's copy of the Redis Secret", []string{"verifier.redis.enabled=true", "verifier.redis.address=redis:6379",
			"verifier.redis.existingSecret=redis", "verifier.redis.passwordKey=password", "verifier.analytics.aggregation=redis"}, nil,
			[]string{"verifier.analytics.managerSecret is empty", "password", "release namespace helm-refused"}},
		{"analytics in the verifier's config", []string{"verifier.config.analytics.enabled=false"}, nil,
			[]string{"verifier.config.analytics is set", "verifier.analytics"}},
		{"geoip in the verifier's config", []string{"verifier.config.geoip.databasePath=/data/geo.mmdb"}, nil,
			[]string{"verifier.config.geoip is set", "verifier.geoip"}},
		{"a GeoIP claim and a volume", []string{"verifier.geoip.existingClaim=geoip"}, []string{`verifier.geoip.volume={"emptyDir":{}}`},
			[]string{"verifier.geoip.existingClaim and verifier.geoip.volume both name the GeoIP database's volume"}},
		{"a GeoIP volume of two sources", nil, []string{`verifier.geoip.volume={"emptyDir":{},"nfs":{"server":"files","path":"/geoip"}}`},
			[]string{"/verifier/geoip/volume", "maxProperties"}},
		{"a GeoIP volume with a name", nil, []string{`verifier.geoip.volume={"name":"geo","nfs":{"server":"files","path":"/geoip"}}`},
			[]string{"/verifier/geoip/volume/name"}},
		{"a GeoIP claim that is no name", []string{"verifier.geoip.existingClaim=GeoIP_Data"}, nil, []string{"/verifier/geoip/existingClaim"}},
		{"a GeoIP file outside the volume", []string{"verifier.geoip.databaseFile=../etc/geo.mmdb"}, nil, []string{"/verifier/geoip/databaseFile"}},
		{"extra argument moving the usage aggregation", nil, []string{`extraArgs=["--usage-aggregation=redis"]`},
			[]string{"extraArgs sets --usage-aggregation, which the chart sets", "verifier.analytics.aggregation"}},
		{"image repository with a line break", nil, []string{`image.repository="keyward\n        securityContext: {}"`},
			[]string{"/image/repository"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			args := []string{"template", "keyward", chartDir, "--namespace", "helm-refused"}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			for _, s := range tc.setJSON {
				args = append(args, "--set-json", s)
			}
			out, err := runHelm(t, helm, args...)
			g.Expect(err).To(HaveOccurred(), out)
			for _, want := range tc.want {
				g.Expect(out).To(ContainSubstring(want))
			}
		})
	}
}

// TestChartNotesWarnAboutRiskyValues: what `helm install` prints after
// installing warns of the values that weaken what keyward protects, and of
// none with the defaults.
func TestChartNotesWarnAboutRiskyValues(t *testing.T) {
	helm := helmBinary(t)
	for _, tc := range []struct {
		name    string
		setJSON []string
		want    []string
	}{
		{"defaults", nil, nil},
		{"verifier namespace not created by the chart", []string{"verifier.createNamespace=false"},
			[]string{"WARNING", `The verifier namespace "keyward-verifier" was not created by the chart`, "only cluster administrators"}},
		{"keys admitted without a policy", []string{`extraArgs=["--default-policy=allow"]`},
			[]string{"WARNING", "--default-policy=allow", "admits APIKeys in every namespace no KeyPolicy selects"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			args := []string{"install", "keyward", chartDir, "--namespace", "helm-notes", "--dry-run=client"}
			for _, s := range tc.setJSON {
				args = append(args, "--set-json", s)
			}
			out, err := runHelm(t, helm, args...)
			g.Expect(err).NotTo(HaveOccurred(), out)
			_, notes, found := strings.Cut(out, "\nNOTES:\n")
			g.Expect(found).To(BeTrue(), out)
			if tc.want == nil {
				g.Expect(notes).NotTo(ContainSubstring("WARNING"))
			}
			for _, want := range tc.want {
				g.Expect(notes).To(ContainSubstring(want))
			}
		})
	}
}

func helmBinary(t *testing.T) string {
	t.Helper()
	return testutil.BuiltProgram(t, "helm", "KEYWARD_HELM", "helm")
}

// runHelm runs helm with its configuration, cache and data in a temporary
// directory, and returns its output, stderr included.
func runHelm(t *testing.T, helm string, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helm, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func chartAppVersion(g Gomega) string {
	file, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	g.Expect(yaml.Unmarshal(file, &chart)).To(Succeed())
	g.Expect(chart.AppVersion).NotTo(BeEmpty())
	return chart.AppVersion
}

// object is the rendered object of that kind, namespace and name.
func object(g Gomega, objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	var found *unstructured.Unstructured
	for _, obj := range objs {
		if obj.GetKind() == kind && obj.GetNamespace() == namespace && obj.GetName() == name {
			found = obj
		}
	}
	g.Expect(found).NotTo(BeNil(), "no %s %s/%s rendered", kind, namespace, name)
	return found
}

// field is the value at path in obj, nil when there is none.
func field(obj *unstructured.Unstructured, path ...string) any {
	value, _, _ := unstructured.NestedFieldNoCopy(obj.Object, path...)
	return value
}

// TestChartReadsAnUnquotedOffAsOff: `mode: off` in a values file is the
// boolean false to YAML; the chart takes it for "off" rather than refusing
// the value the README documents.
func TestChartReadsAnUnquotedOffAsOff(t *testing.T) {
	helm := helmBinary(t)
	g := NewWithT(t)
	values := filepath.Join(t.TempDir(), "values.yaml")
	g.Expect(os.WriteFile(values, []byte("verifier:\n  tls:\n    mode: off\n"), 0o600)).To(Succeed())
	manifests, err := runHelm(t, helm, "template", "keyward", chartDir, "--namespace", "helm-off", "-f", values)
	g.Expect(err).NotTo(HaveOccurred(), manifests)
	objs, err := testutil.DecodeManifests([]byte(manifests))
	g.Expect(err).NotTo(HaveOccurred())
	args := deployment(g, objs, "keyward-controller-manager").Spec.Template.Spec.Containers[0].Args
	g.Expect(args).NotTo(ContainElement(HavePrefix("--verifier-tls")))
}

// TestChartReadmeListsEveryValue: each value of values.yaml has a row in
// the chart README's values table, its own or an enclosing value's (such
// as resources for resources.limits.cpu).
func TestChartReadmeListsEveryValue(t *testing.T) {
	g := NewWithT(t)
	file, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var values map[string]any
	g.Expect(yaml.Unmarshal(file, &values)).To(Succeed())
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	g.Expect(err).NotTo(HaveOccurred())

	paths := valuePaths("", values)
	g.Expect(paths).To(ContainElement("verifier.redis.tls.caKey"))
	for _, path := range paths {
		documented := false
		for prefix := path; prefix != "" && !documented; prefix = parentValue(prefix) {
			documented = bytes.Contains(readme, []byte("| `"+prefix+"` |"))
		}
		g.Expect(documented).To(BeTrue(), "README.md has no row for %s", path)
	}
}

// valuePaths are the dotted paths of the leaves of values.
func valuePaths(prefix string, values map[string]any) []string {
	var out []string
	for key, value := range values {
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		if nested, ok := value.(map[string]any); ok && len(nested) > 0 {
			out = append(out, valuePaths(path, nested)...)
		} else {
			out = append(out, path)
		}
	}
	return out
}

func parentValue(path string) string {
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[:i]
	}
	return ""
}

// unstructuredOf is an empty object of a kind the client's scheme need not
// know (CRDs, cert-manager's).
func unstructuredOf(apiVersion, kind string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion(apiVersion)
	obj.SetKind(kind)
	return obj
}
