package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/servingtls"
)

// verifierFlags are the manager's --deploy-verifier and --verifier-*
// flags, before parsing into a controllers.VerifierDeployment.
type verifierFlags struct {
	deploy      bool
	image       string
	replicas    int
	configMap   string
	redisSecret string
	// geoIPClaim and geoIPVolume give the verifier the volume of its GeoIP
	// database, one or the other.
	geoIPClaim, geoIPVolume string
	hostNetwork             bool
	cpuRequest, cpuLimit    string
	memRequest, memLimit    string
	tls                     string
	tlsSecret               string
	tlsClientAuth           string
	tlsClientCASecret       string
	// The public port's own client certificate mode; empty: the decision
	// port's.
	publicTLSClientAuth     string
	publicTLSClientCASecret string
}

// Where the verifier's request ports get their TLS (--verifier-tls).
const (
	verifierTLSOff = "off"
	// verifierTLSSelfManaged: keyward issues the certificate from a CA of
	// its own, as the webhook's self-managed mode does.
	verifierTLSSelfManaged = "self-managed"
	// verifierTLSSecret: the operator provides the Secret (cert-manager's
	// Certificate in config/cert-manager).
	verifierTLSSecret = "secret"
)

func (f *verifierFlags) bind(fs *flag.FlagSet) {
	def := controllers.DefaultVerifierResources()
	fs.BoolVar(&f.deploy, "deploy-verifier", true, "run the verifier as a Deployment in --verifier-namespace and report its availability on every APIKey (condition VerifierAvailable); false when something else runs it")
	// config/manager sets VERIFIER_IMAGE to the manager's own image, which
	// `make deploy IMG=...` replaces in both places.
	fs.StringVar(&f.image, "verifier-image", os.Getenv("VERIFIER_IMAGE"), "image of the verifier Deployment: keyward's, the manager's own (default $VERIFIER_IMAGE); required with --deploy-verifier")
	fs.IntVar(&f.replicas, "verifier-replicas", controllers.DefaultVerifierReplicas, "replicas of the verifier Deployment")
	fs.StringVar(&f.configMap, "verifier-config-map", "", "ConfigMap in --verifier-namespace whose key "+controllers.VerifierConfigKey+" the verifier reads as its --config (mounted at "+controllers.VerifierConfigDir+"); empty for none")
	fs.StringVar(&f.redisSecret, "verifier-redis-secret", "", "Secret in --verifier-namespace mounted at "+controllers.VerifierRedisSecretDir+" for the verifier's connection to Redis (its password, CA and client certificate files, which the verifier's config names); empty for none")
	fs.StringVar(&f.geoIPClaim, "verifier-geoip-claim", "", "PersistentVolumeClaim in --verifier-namespace holding the verifier's GeoIP database, mounted read-only at "+controllers.VerifierGeoIPDir+" (the configuration's geoip.databasePath names the file there); empty for none")
	fs.StringVar(&f.geoIPVolume, "verifier-geoip-volume", "", `instead of --verifier-geoip-claim, any volume source (JSON or YAML of a Pod volume without its name, e.g. {"nfs":{"server":"files.example.com","path":"/geoip"}}) holding the GeoIP database, mounted read-only at `+controllers.VerifierGeoIPDir)
	fs.BoolVar(&f.hostNetwork, "verifier-host-network", false, "run the verifier on its node's network (its replicas share the node's ports) with the manager's KUBERNETES_SERVICE_HOST and _PORT, for clusters whose callers cannot reach the pod network")
	fs.StringVar(&f.cpuRequest, "verifier-cpu-request", quantity(def.Requests, corev1.ResourceCPU), "CPU request of each verifier pod")
	fs.StringVar(&f.cpuLimit, "verifier-cpu-limit", quantity(def.Limits, corev1.ResourceCPU), "CPU limit of each verifier pod; empty for none, so that PBKDF2 on a key's first use is not throttled past a proxy's timeout")
	fs.StringVar(&f.memRequest, "verifier-memory-request", quantity(def.Requests, corev1.ResourceMemory), "memory request of each verifier pod")
	fs.StringVar(&f.tls, "verifier-tls", verifierTLSOff, `TLS of the verifier's decision and public ports: "off"; "self-managed" (keyward keeps a CA, Secret `+controllers.VerifierCASecret+` in its own namespace, and issues --verifier-tls-secret for the verifier Service's names); "secret" (--verifier-tls-secret is provided, e.g. by cert-manager)`)
	fs.StringVar(&f.tlsSecret, "verifier-tls-secret", controllers.DefaultVerifierTLSSecret, "Secret in --verifier-namespace with the verifier's tls.crt and tls.key (kubernetes.io/tls)")
	fs.StringVar(&f.tlsClientAuth, "verifier-tls-client-auth", string(servingtls.ClientAuthNone), `client certificates on the verifier's TLS ports: "none", "request" (any, unverified), "optional" or "required" (verified against --verifier-tls-client-ca-secret)`)
	fs.StringVar(&f.tlsClientCASecret, "verifier-tls-client-ca-secret", "", "Secret in --verifier-namespace whose ca.crt holds the CAs of accepted client certificates, for --verifier-tls-client-auth=optional or required")
	fs.StringVar(&f.publicTLSClientAuth, "verifier-public-tls-client-auth", "", `client certificates on the verifier's public (OAuth) port when they differ from the decision port's: modes as --verifier-tls-client-auth ("request" for RFC 8705 self_signed_tls_client_auth clients); empty: as --verifier-tls-client-auth and --verifier-tls-client-ca-secret`)
	fs.StringVar(&f.publicTLSClientCASecret, "verifier-public-tls-client-ca-secret", "", "Secret in --verifier-namespace whose ca.crt holds the CAs of client certificates accepted on the public port, for --verifier-public-tls-client-auth=optional or required")
	fs.StringVar(&f.memLimit, "verifier-memory-limit", quantity(def.Limits, corev1.ResourceMemory), "memory limit of each verifier pod; empty for none")
}

func quantity(l corev1.ResourceList, name corev1.ResourceName) string {
	if q, ok := l[name]; ok {
		return q.String()
	}
	return ""
}

// deployment checks the flags and returns the verifier's configuration.
func (f *verifierFlags) deployment(namespace, managerNamespace string) (controllers.VerifierDeployment, error) {
	if f.image == "" {
		return controllers.VerifierDeployment{}, errors.New("--verifier-image (or $VERIFIER_IMAGE) is required to deploy the verifier; --deploy-verifier=false if something else runs it")
	}
	if f.replicas < 1 || f.replicas > 100 {
		return controllers.VerifierDeployment{}, fmt.Errorf("--verifier-replicas must be between 1 and 100, not %d", f.replicas)
	}
	if f.redisSecret != "" {
		if errs := validation.IsDNS1123Subdomain(f.redisSecret); len(errs) > 0 {
			return controllers.VerifierDeployment{}, fmt.Errorf("--verifier-redis-secret: %q is not a Secret name: %s", f.redisSecret, strings.Join(errs, "; "))
		}
	}
	geoIP, err := f.geoIPSource()
	if err != nil {
		return controllers.VerifierDeployment{}, err
	}
	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		flag, value string
		into        corev1.ResourceList
		name        corev1.ResourceName
	}{
		{"--verifier-cpu-request", f.cpuRequest, res.Requests, corev1.ResourceCPU},
		{"--verifier-memory-request", f.memRequest, res.Requests, corev1.ResourceMemory},
		{"--verifier-cpu-limit", f.cpuLimit, res.Limits, corev1.ResourceCPU},
		{"--verifier-memory-limit", f.memLimit, res.Limits, corev1.ResourceMemory},
	} {
		if q.value == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.value)
		if err != nil {
			return controllers.VerifierDeployment{}, fmt.Errorf("%s: %w", q.flag, err)
		}
		q.into[q.name] = v
	}
	tls, err := f.verifierTLS(managerNamespace)
	if err != nil {
		return controllers.VerifierDeployment{}, err
	}
	return controllers.VerifierDeployment{
		TLS:         tls,
		Namespace:   namespace,
		Image:       f.image,
		Replicas:    int32(f.replicas),
		Resources:   res,
		ConfigMap:   f.configMap,
		RedisSecret: f.redisSecret,
		GeoIP:       geoIP,
		HostNetwork: f.hostNetwork,
		Env:         f.env(),
	}, nil
}

// geoIPSource is the volume of --verifier-geoip-claim or
// --verifier-geoip-volume; nil for neither.
func (f *verifierFlags) geoIPSource() (*corev1.VolumeSource, error) {
	switch {
	case f.geoIPClaim != "" && f.geoIPVolume != "":
		return nil, errors.New("--verifier-geoip-claim and --verifier-geoip-volume both name the GeoIP database's volume: give one")
	case f.geoIPClaim != "":
		if errs := validation.IsDNS1123Subdomain(f.geoIPClaim); len(errs) > 0 {
			return nil, fmt.Errorf("--verifier-geoip-claim: %q is not a PersistentVolumeClaim name: %s", f.geoIPClaim, strings.Join(errs, "; "))
		}
		return &corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: f.geoIPClaim, ReadOnly: true}}, nil
	case f.geoIPVolume != "":
		var src corev1.VolumeSource
		if err := yaml.UnmarshalStrict([]byte(f.geoIPVolume), &src); err != nil {
			return nil, fmt.Errorf("--verifier-geoip-volume is not a volume source: %w", err)
		}
		if err := controllers.VerifierGeoIPSource(src); err != nil {
			return nil, fmt.Errorf("--verifier-geoip-volume: %w", err)
		}
		return &src, nil
	}
	return nil, nil
}

// env passes the API server's address the manager uses on to a verifier
// on the host network: the kubelet gives host-network pods the Service
// address of the API server, which only a node with a service proxy
// reaches, while the manager may have been given one that works.
func (f *verifierFlags) env() []corev1.EnvVar {
	if !f.hostNetwork {
		return nil
	}
	var env []corev1.EnvVar
	for _, name := range []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"} {
		if v := os.Getenv(name); v != "" {
			env = append(env, corev1.EnvVar{Name: name, Value: v})
		}
	}
	return env
}

// verifierTLS checks the --verifier-tls* and --verifier-public-tls* flags;
// nil is plain HTTP.
func (f *verifierFlags) verifierTLS(managerNamespace string) (*controllers.VerifierTLS, error) {
	mode, err := servingtls.ParseClientAuth(f.tlsClientAuth)
	if err != nil {
		return nil, fmt.Errorf("--verifier-tls-client-auth: %w", err)
	}
	var publicMode servingtls.ClientAuth
	if f.publicTLSClientAuth != "" {
		if publicMode, err = servingtls.ParseClientAuth(f.publicTLSClientAuth); err != nil {
			return nil, fmt.Errorf("--verifier-public-tls-client-auth: %w", err)
		}
	}
	switch f.tls {
	case verifierTLSOff:
		if mode != servingtls.ClientAuthNone || f.tlsClientCASecret != "" || f.publicTLSClientAuth != "" || f.publicTLSClientCASecret != "" {
			return nil, fmt.Errorf("--verifier-tls-client-auth, --verifier-tls-client-ca-secret and --verifier-public-tls-* need --verifier-tls=%s or %s", verifierTLSSelfManaged, verifierTLSSecret)
		}
		return nil, nil
	case verifierTLSSelfManaged, verifierTLSSecret:
	default:
		return nil, fmt.Errorf("--verifier-tls must be %s, %s or %s, not %q", verifierTLSOff, verifierTLSSelfManaged, verifierTLSSecret, f.tls)
	}
	if f.tlsSecret == "" {
		return nil, errors.New("--verifier-tls-secret must name the verifier's TLS Secret")
	}
	if err := f.checkClientCA("verifier-tls", mode, f.tlsClientCASecret); err != nil {
		return nil, err
	}
	if f.publicTLSClientAuth == "" && f.publicTLSClientCASecret != "" {
		return nil, errors.New("--verifier-public-tls-client-ca-secret needs --verifier-public-tls-client-auth (optional or required); without both the public port takes --verifier-tls-client-auth and --verifier-tls-client-ca-secret")
	}
	if publicMode != "" {
		if err := f.checkClientCA("verifier-public-tls", publicMode, f.publicTLSClientCASecret); err != nil {
			return nil, err
		}
	}
	return &controllers.VerifierTLS{
		Secret: f.tlsSecret, SelfManaged: f.tls == verifierTLSSelfManaged, ManagerNamespace: managerNamespace,
		ClientAuth: string(mode), ClientCASecret: f.tlsClientCASecret,
		PublicClientAuth: string(publicMode), PublicClientCASecret: f.publicTLSClientCASecret,
	}, nil
}

// checkClientCA checks a port's client certificate mode against its CA
// Secret, flags --<prefix>-client-auth and --<prefix>-client-ca-secret.
func (f *verifierFlags) checkClientCA(prefix string, mode servingtls.ClientAuth, caSecret string) error {
	authFlag, caFlag := "--"+prefix+"-client-auth", "--"+prefix+"-client-ca-secret"
	verifies := mode == servingtls.ClientAuthOptional || mode == servingtls.ClientAuthRequired
	switch {
	case verifies && caSecret == "":
		return fmt.Errorf("%s=%s verifies client certificates: %s must name the Secret of their CAs", authFlag, mode, caFlag)
	case !verifies && caSecret != "":
		return fmt.Errorf("%s is only used with %s=optional or required, not %s", caFlag, authFlag, mode)
	case f.tls == verifierTLSSelfManaged && caSecret == f.tlsSecret:
		// Its ca.crt is keyward's serving CA, which issues no client
		// certificates.
		return fmt.Errorf("%s cannot be the self-managed --verifier-tls-secret: its ca.crt is the serving CA", caFlag)
	}
	return nil
}
