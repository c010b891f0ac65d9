package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/logging"
	"github.com/keyward-dev/keyward/internal/notify"
	"github.com/keyward-dev/keyward/internal/snippets"
	"github.com/keyward-dev/keyward/manager"
)

type managerOptions struct {
	metricsAddr, probeAddr string
	secureMetrics          bool
	leaderElect            bool
	// managerNamespace is the manager's own ($POD_NAMESPACE): its webhook
	// certificate Secret and Service, its leader-election Lease.
	managerNamespace        string
	verifierNamespace       string
	iterations              int
	allowLowIterations      bool
	hashConcurrency         int
	maxConcurrentReconciles int
	apiQPS                  float64
	apiBurst                int
	warnBefore              time.Duration
	tombstoneRetention      time.Duration
	notificationSink        string
	auditLog                string
	verifier                verifierFlags
	usage                   usageFlags
	zap                     zap.Options
	// snippets are the endpoints the integration snippets address
	// (--snippets-*-url); empty fields default to the verifier Service.
	snippets snippets.Endpoints

	// Admission webhooks.
	enableWebhooks     bool
	webhookCertMode    string // certModeSelfManaged or certModeExternal
	webhookPort        int
	webhookCertDir     string
	webhookSecretName  string
	webhookServiceName string
	webhookConfigName  string
	defaultPolicy      string // "allow" or "deny"
	// defaultAllow is --default-policy parsed: true admits keys in
	// namespaces no KeyPolicy selects, false refuses them.
	defaultAllow bool
	// usageOptions are the --usage-* and --anomaly-* flags parsed.
	usageOptions manager.UsageOptions
}

func runManager(args []string) error {
	o := managerOptions{}
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443", `address of the metrics endpoint; "0" disables it`)
	fs.BoolVar(&o.secureMetrics, "metrics-secure", true, "serve metrics over HTTPS behind Kubernetes authentication and authorization")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader with a Lease, for more than one replica")
	fs.StringVar(&o.verifierNamespace, "verifier-namespace", defaultVerifierNamespace, "namespace of the verifier, where key records, signing keys and usage reports live; never the manager's own ($POD_NAMESPACE), since the verifier may read every Secret there")
	fs.IntVar(&o.iterations, "pbkdf2-iterations", keys.DefaultIterations, "PBKDF2-HMAC-SHA256 iterations for new hashes")
	fs.BoolVar(&o.allowLowIterations, "insecure-allow-low-pbkdf2-iterations", false, "allow fewer PBKDF2 iterations than the default; for tests and development only")
	fs.IntVar(&o.hashConcurrency, "hash-concurrency", controllers.DefaultHashConcurrency(), "PBKDF2 hashes computed at once")
	fs.IntVar(&o.maxConcurrentReconciles, "max-concurrent-reconciles", 4, "APIKeys reconciled at once")
	fs.Float64Var(&o.apiQPS, "kube-api-qps", 100, "queries per second to the API server")
	fs.IntVar(&o.apiBurst, "kube-api-burst", 200, "burst of queries to the API server")
	fs.DurationVar(&o.warnBefore, "warn-before", 7*24*time.Hour, "how long before a scheduled rotation or an expiry to warn (condition Expiring, a Warning Event, a notification)")
	fs.DurationVar(&o.tombstoneRetention, "revoked-record-retention", 30*24*time.Hour, "how long a revoked key's record stays so the verifier can answer \"revoked\"")
	fs.StringVar(&o.notificationSink, "notification-sink", "", "URL that receives warnings as CloudEvents (HTTP POST); empty disables them")
	fs.StringVar(&o.auditLog, "audit-log", "stdout", `where the audit trail goes: "stdout" or a file path`)
	fs.BoolVar(&o.enableWebhooks, "enable-webhooks", true, "serve the admission webhooks; false for a manager outside the cluster, which the API server cannot reach")
	fs.StringVar(&o.webhookCertMode, "webhook-cert-mode", certModeSelfManaged, `where the webhook's serving certificate comes from: "self-managed" (generated and rotated into --webhook-secret-name, its CA injected into --webhook-configuration-name) or "external" (files provided in --webhook-cert-dir, e.g. by cert-manager)`)
	fs.IntVar(&o.webhookPort, "webhook-port", crwebhook.DefaultPort, "port of the webhook server")
	fs.StringVar(&o.webhookCertDir, "webhook-cert-dir", defaultWebhookCertDir, "directory holding the webhook server's tls.crt and tls.key")
	fs.StringVar(&o.webhookSecretName, "webhook-secret-name", defaultWebhookSecretName, "self-managed mode: Secret in the manager's namespace that holds the CA and serving certificate; it must exist and be mounted at --webhook-cert-dir")
	fs.StringVar(&o.webhookServiceName, "webhook-service-name", defaultWebhookServiceName, "self-managed mode: Service in the manager's namespace through which the API server calls the webhook (the certificate's DNS names)")
	fs.StringVar(&o.webhookConfigName, "webhook-configuration-name", defaultWebhookConfigName, "self-managed mode: ValidatingWebhookConfiguration that gets the CA bundle (the ClusterRole allows updating only the default name)")
	fs.StringVar(&o.defaultPolicy, "default-policy", "deny", `decision for APIKeys in namespaces no KeyPolicy selects: "deny" (refused, and existing keys there hold no scopes) or "allow"`)
	o.verifier.bind(fs)
	fs.StringVar(&o.snippets.Decision, "snippets-decision-url", "", "base URL of the verifier's decision port as the proxies in the integration snippets reach it (ConfigMap <secret>-snippets beside each delivery Secret); empty: the verifier Service in --verifier-namespace")
	fs.StringVar(&o.snippets.Token, "snippets-token-url", "", "URL of the verifier's token endpoint as the clients in the integration snippets reach it, e.g. through an Ingress; empty: the verifier Service's public port")
	fs.StringVar(&o.snippets.API, "snippets-api-url", "", "URL of the protected service the client snippets call; empty: "+snippets.DefaultAPI)
	o.usage.bind(fs)
	o.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch o.defaultPolicy {
	case "allow", "deny":
		o.defaultAllow = o.defaultPolicy == "allow"
	default:
		return fmt.Errorf(`--default-policy must be "allow" or "deny", not %q`, o.defaultPolicy)
	}
	if o.tombstoneRetention <= 0 {
		return fmt.Errorf("--revoked-record-retention must be positive, not %s: the verifier answers \"revoked\" only while the record is kept", o.tombstoneRetention)
	}
	if o.webhookCertMode != certModeSelfManaged && o.webhookCertMode != certModeExternal {
		return fmt.Errorf("--webhook-cert-mode must be %q or %q, not %q", certModeSelfManaged, certModeExternal, o.webhookCertMode)
	}
	for flag, raw := range map[string]string{"--snippets-decision-url": o.snippets.Decision, "--snippets-token-url": o.snippets.Token, "--snippets-api-url": o.snippets.API} {
		if raw == "" {
			continue
		}
		if err := snippets.ValidateURL(raw); err != nil {
			return fmt.Errorf("%s %q: %w", flag, raw, err)
		}
	}
	var err error
	if o.usageOptions, err = o.usage.options(); err != nil {
		return err
	}
	o.managerNamespace = managerNamespace()
	if err := checkVerifierNamespace(o.verifierNamespace, o.managerNamespace); err != nil {
		return err
	}
	var verifierDeployment controllers.VerifierDeployment
	if o.verifier.deploy {
		var err error
		if verifierDeployment, err = o.verifier.deployment(o.verifierNamespace, o.managerNamespace); err != nil {
			return err
		}
	}
	if err := checkVerifierFlags(o.verifier, o.usage); err != nil {
		return err
	}

	// Capped whatever --zap-log-level says: client-go's wire traces print
	// request bodies, and delivery Secrets carry plaintext keys.
	logger := logging.Cap(zap.New(zap.UseFlagOptions(&o.zap)))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)

	hasher, err := keys.NewHasher(o.iterations, o.allowLowIterations)
	if err != nil {
		return err
	}
	fipsSettings, err := managerFIPSSettings(o)
	if err != nil {
		return err
	}
	if err := refuseInFIPSMode(fipsSettings); err != nil {
		return err
	}
	if o.iterations < keys.DefaultIterations {
		logger.Info("WARNING: PBKDF2 iterations below the default; use this only for tests and development", "iterations", o.iterations)
	}

	auditSink, auditCloser, err := audit.Open(o.auditLog)
	if err != nil {
		return err
	}
	defer auditCloser.Close()
	var notifier controllers.Notifier
	if o.notificationSink != "" {
		notifier = notify.NewSink(o.notificationSink)
	}

	cfg, err := apiConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(o.apiQPS), o.apiBurst
	if o.verifier.deploy && o.verifier.configMap != "" {
		if err := checkDeployedVerifierConfig(cfg, o); err != nil {
			return err
		}
	}
	// Closed by the cert rotator once the webhook's serving certificate is
	// mounted and its CA injected (self-managed mode only).
	var certsReady chan struct{}
	if o.enableWebhooks && o.webhookCertMode == certModeSelfManaged {
		certsReady = make(chan struct{})
	}
	mgr, err := ctrl.NewManager(cfg, managerConfig(o, newWebhookServer(o, certsReady)))
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if _, err := manager.Setup(mgr, o.components(hasher, notifier, auditSink, verifierDeployment)); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	if o.enableWebhooks {
		if err := setupWebhookServing(mgr, o, certsReady); err != nil {
			return err
		}
	}
	logger.Info("starting manager", "namespace", o.managerNamespace, "verifierNamespace", o.verifierNamespace, "pbkdf2Iterations", o.iterations,
		"hashConcurrency", o.hashConcurrency, "webhooks", o.enableWebhooks, "webhookCertMode", o.webhookCertMode,
		"defaultPolicy", o.defaultPolicy, "deployVerifier", o.verifier.deploy, "verifierImage", verifierDeployment.Image)
	return mgr.Start(ctrl.SetupSignalHandler())
}

// components is what the flags select of manager.Setup's parts, and
// their settings.
func (o managerOptions) components(hasher keys.Hasher, notifier controllers.Notifier, auditSink audit.Sink, verifier controllers.VerifierDeployment) manager.Options {
	parts := manager.Controllers | manager.UsageAggregator
	if o.verifier.deploy {
		parts |= manager.VerifierDeployer
	}
	if o.enableWebhooks {
		parts |= manager.Webhooks
	}
	return manager.Options{
		Parts:                   parts,
		VerifierNamespace:       o.verifierNamespace,
		ManagerNamespace:        o.managerNamespace,
		Clock:                   clock.RealClock{},
		Hasher:                  hasher,
		HashConcurrency:         o.hashConcurrency,
		MaxConcurrentReconciles: o.maxConcurrentReconciles,
		WarnBefore:              o.warnBefore,
		RevokedRecordRetention:  o.tombstoneRetention,
		DefaultAllow:            o.defaultAllow,
		Notifier:                notifier,
		Audit:                   auditSink,
		Verifier:                verifier,
		Snippets:                o.snippets,
		Usage:                   o.usageOptions,
	}
}

func managerConfig(o managerOptions, webhookServer crwebhook.Server) ctrl.Options {
	metricsOpts := metricsserver.Options{
		BindAddress:   o.metricsAddr,
		SecureServing: o.secureMetrics,
		// HTTP/2 is off to stay clear of the HTTP/2 rapid-reset CVEs.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	if o.secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return ctrl.Options{
		Scheme:                 manager.Scheme(),
		Metrics:                metricsOpts,
		HealthProbeBindAddress: o.probeAddr,
		WebhookServer:          webhookServer,
		LeaderElection:         o.leaderElect,
		LeaderElectionID:       "keyward-manager.keyward.dev",
		// The Lease lives with the manager, never where the verifier
		// could read or take it; the same namespace outside the cluster.
		LeaderElectionNamespace: o.managerNamespace,
		Cache:                   controllers.CacheOptions(o.verifierNamespace),
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
