package main

import (
	"flag"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// managerFlags parses the manager's verifier and usage flags.
func managerFlags(t *testing.T, args ...string) (verifierFlags, usageFlags) {
	t.Helper()
	v, u := verifierFlags{}, usageFlags{}
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	v.bind(fs)
	u.bind(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return v, u
}

const redisAggregation = `
rateLimits:
  store: redis
  redis: {address: "redis.data:6379", db: 2}
analytics: {aggregation: redis}
`

func TestTheManagerAgreesWithTheVerifiersConfiguration(t *testing.T) {
	redisFlags := []string{"--verifier-config-map=settings", "--usage-aggregation=redis", "--usage-redis-address=redis.data:6379", "--usage-redis-db=2"}
	for name, c := range map[string]struct {
		args   []string
		config string
	}{
		"the defaults":                      {[]string{"--verifier-config-map=settings"}, "realm: acme\n"},
		"analytics off":                     {[]string{"--verifier-config-map=settings", "--usage-aggregation=redis", "--usage-redis-address=elsewhere:6379"}, "analytics: {enabled: false}\n"},
		"the same Redis":                    {redisFlags, redisAggregation},
		"a GeoIP database in its volume":    {[]string{"--verifier-config-map=settings", "--verifier-geoip-claim=geoip"}, "geoip: {databasePath: /var/lib/geoip/GeoLite2-Country.mmdb}\n"},
		"a GeoIP database in the ConfigMap": {[]string{"--verifier-config-map=settings"}, "geoip: {databasePath: /etc/keyward/test.mmdb}\n"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			v, u := managerFlags(t, c.args...)
			g.Expect(checkVerifierFlags(v, u)).To(Succeed())
			g.Expect(checkVerifierAgreement(v, u, []byte(c.config))).To(Succeed())
		})
	}
}

func TestTheManagerRefusesAVerifierItDisagreesWith(t *testing.T) {
	where := "the verifier's configuration (--verifier-config-map settings, key verifier.yaml)"
	for name, c := range map[string]struct {
		args   []string
		config string
		want   string
	}{
		"embedded against redis": {[]string{"--verifier-config-map=settings"}, redisAggregation,
			"--usage-aggregation=embedded, but " + where + " says analytics.aggregation: redis"},
		"redis against the default": {[]string{"--verifier-config-map=settings", "--usage-aggregation=redis", "--usage-redis-address=redis.data:6379"}, "realm: acme\n",
			"--usage-aggregation=redis, but " + where + " says analytics.aggregation: embedded"},
		"another Redis": {[]string{"--verifier-config-map=settings", "--usage-aggregation=redis", "--usage-redis-address=redis.other:6379", "--usage-redis-db=2"}, redisAggregation,
			"--usage-redis-address=redis.other:6379, but " + where + " has rateLimits.redis.address redis.data:6379"},
		"another database": {[]string{"--verifier-config-map=settings", "--usage-aggregation=redis", "--usage-redis-address=redis.data:6379"}, redisAggregation,
			"--usage-redis-db=0, but " + where + " has rateLimits.redis.db 2"},
		"another prefix": {[]string{"--verifier-config-map=settings", "--usage-aggregation=redis", "--usage-redis-address=redis.data:6379", "--usage-redis-db=2", "--usage-redis-prefix=acme:"}, redisAggregation,
			"--usage-redis-prefix=acme:, but " + where + " has rateLimits.redis.prefix keyward:rl:"},
		"a GeoIP volume the configuration does not use": {[]string{"--verifier-config-map=settings", `--verifier-geoip-volume={"nfs":{"server":"files","path":"/geoip"}}`}, "realm: acme\n",
			`--verifier-geoip-volume mounts a GeoIP database at /var/lib/geoip, but ` + where + ` has geoip.databasePath ""`},
		"a database in a volume not mounted": {[]string{"--verifier-config-map=settings"}, "geoip: {databasePath: /var/lib/geoip/GeoLite2-City.mmdb}\n",
			where + ` has geoip.databasePath "/var/lib/geoip/GeoLite2-City.mmdb", but no volume is mounted at /var/lib/geoip: give its volume with --verifier-geoip-claim or --verifier-geoip-volume`},
		"a configuration the verifier refuses": {[]string{"--verifier-config-map=settings"}, "analytics: {aggregation: kafka}\n",
			where + `: analytics.aggregation: "kafka" is not embedded or redis`},
		"an unknown field": {[]string{"--verifier-config-map=settings"}, "analytic: {}\n",
			where + `: error unmarshaling JSON: while decoding JSON: json: unknown field "analytic"`},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			v, u := managerFlags(t, c.args...)
			g.Expect(checkVerifierFlags(v, u)).To(Succeed())
			g.Expect(checkVerifierAgreement(v, u, []byte(c.config))).To(MatchError(ContainSubstring(c.want)))
		})
	}
}

func TestTheManagerRefusesVerifierSettingsWithoutAConfiguration(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--usage-aggregation=redis", "--usage-redis-address=redis:6379"}, "--usage-aggregation=redis, but the verifier the manager deploys has no configuration (--verifier-config-map)"},
		{[]string{"--verifier-geoip-claim=geoip"}, "--verifier-geoip-claim mounts a GeoIP database at /var/lib/geoip, but the verifier the manager deploys has no configuration (--verifier-config-map)"},
	} {
		g := NewWithT(t)
		v, u := managerFlags(t, c.args...)
		g.Expect(checkVerifierFlags(v, u)).To(MatchError(ContainSubstring(c.want)), "%v", c.args)
		v.deploy = false
		g.Expect(checkVerifierFlags(v, u)).To(Succeed(), "a verifier the manager does not deploy is configured elsewhere")
	}
}

// The manager reads the deployed verifier's configuration from the API
// server before it starts.
func TestTheManagerReadsTheVerifiersConfigMap(t *testing.T) {
	ctx, cfg, k8s := sharedAPIServer(t)
	g := NewWithT(t)
	ns := fmt.Sprintf("verifier-agreement-%d", testObjects.Add(1))
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	v, u := managerFlags(t, "--verifier-config-map=settings", "--verifier-geoip-claim=geoip")
	o := managerOptions{verifierNamespace: ns, verifier: v, usage: u}

	g.Expect(checkDeployedVerifierConfig(cfg, o)).To(MatchError(ContainSubstring(
		"reading the verifier's configuration (--verifier-config-map settings in " + ns + ")")))

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"},
		Data: map[string]string{"verifier.yml": "geoip: {databasePath: /var/lib/geoip/GeoLite2-Country.mmdb}\n"}}
	g.Expect(k8s.Create(ctx, cm)).To(Succeed())
	g.Expect(checkDeployedVerifierConfig(cfg, o)).To(MatchError(ContainSubstring("has no key verifier.yaml")))

	cm.Data = map[string]string{"verifier.yaml": cm.Data["verifier.yml"]}
	g.Expect(k8s.Update(ctx, cm)).To(Succeed())
	g.Expect(checkDeployedVerifierConfig(cfg, o)).To(Succeed())
}

func TestVerifierGeoIPFlags(t *testing.T) {
	g := NewWithT(t)
	image := "--verifier-image=keyward:1"
	v, _ := verifierFromFlags(g, t, "", image, "--verifier-geoip-claim=geoip-data")
	g.Expect(v.GeoIP).To(HaveValue(Equal(corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "geoip-data", ReadOnly: true}})))

	v, _ = verifierFromFlags(g, t, "", image, "--verifier-geoip-volume=csi: {driver: files.csi.example.com, readOnly: true}")
	g.Expect(v.GeoIP).To(HaveValue(Equal(corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "files.csi.example.com", ReadOnly: ptr.To(true)}})))

	v, _ = verifierFromFlags(g, t, "", image)
	g.Expect(v.GeoIP).To(BeNil())

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--verifier-geoip-claim=geoip", `--verifier-geoip-volume={"emptyDir":{}}`}, "--verifier-geoip-claim and --verifier-geoip-volume both name the GeoIP database's volume: give one"},
		{[]string{"--verifier-geoip-claim=GeoIP_Data"}, `--verifier-geoip-claim: "GeoIP_Data" is not a PersistentVolumeClaim name`},
		{[]string{`--verifier-geoip-volume={"nfs":{"server":"files","path":"/geoip"},"emptyDir":{}}`}, "--verifier-geoip-volume: a volume has exactly one source (persistentVolumeClaim, nfs, csi, ...), this one has 2 [emptyDir nfs]"},
		{[]string{`--verifier-geoip-volume={"name":"geoip","emptyDir":{}}`}, `--verifier-geoip-volume is not a volume source: error unmarshaling JSON: while decoding JSON: json: unknown field "name"`},
		{[]string{`--verifier-geoip-volume={}`}, "--verifier-geoip-volume: a volume has exactly one source (persistentVolumeClaim, nfs, csi, ...), this one has 0 []"},
	} {
		verifierFromFlags(g, t, c.want, append([]string{image}, c.args...)...)
	}
}

// keyward manager refuses to start on a verifier configuration that says
// another aggregation than its flags.
func TestRunManagerRefusesAVerifierConfigurationItDisagreesWith(t *testing.T) {
	ctx, cfg, k8s := sharedAPIServer(t)
	g := NewWithT(t)
	ns := fmt.Sprintf("verifier-disagreement-%d", testObjects.Add(1))
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"},
		Data: map[string]string{"verifier.yaml": "realm: acme\n"}})).To(Succeed())
	t.Setenv("KUBECONFIG", writeKubeconfig(t, cfg))
	t.Setenv("POD_NAMESPACE", "keyward-system")
	err := runManager([]string{"--verifier-namespace=" + ns, "--verifier-image=keyward:test", "--verifier-config-map=settings",
		"--usage-aggregation=redis", "--usage-redis-address=redis.data:6379", "--enable-webhooks=false", "--metrics-bind-address=0"})
	g.Expect(err).To(MatchError(ContainSubstring("--usage-aggregation=redis, but the verifier's configuration (--verifier-config-map settings, key verifier.yaml) says analytics.aggregation: embedded")))
}
