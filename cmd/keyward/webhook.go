package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

// The cert rotator (self-managed mode) reads and watches the webhook
// configurations to inject its CA, and may update only keyward's own. It
// reads Secrets of the manager's namespace (granted cluster-wide already)
// and updates only its certificate Secret, of the default name, in the
// manager's namespace (namespace=system).
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,resourceNames=keyward-validating-webhook-configuration,verbs=get;update
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,resourceNames=keyward-webhook-server-cert,verbs=update

// Webhook serving certificate modes (--webhook-cert-mode).
const (
	// certModeSelfManaged: the cert rotator keeps a CA and a serving
	// certificate in the Secret --webhook-secret-name (mounted at
	// --webhook-cert-dir) and injects the CA into the webhook configuration.
	certModeSelfManaged = "self-managed"
	// certModeExternal: something else (cert-manager) provides the files in
	// --webhook-cert-dir and the webhook configuration's caBundle.
	certModeExternal = "external"
)

// Defaults matching config/default (namePrefix "keyward-", namespace
// keyward-system).
const (
	defaultWebhookSecretName  = "keyward-webhook-server-cert"
	defaultWebhookServiceName = "keyward-webhook-service"
	defaultWebhookConfigName  = "keyward-validating-webhook-configuration"
	// defaultWebhookCertDir is controller-runtime's default on Linux
	// (os.TempDir()/k8s-webhook-server/serving-certs), spelled out so that
	// it does not depend on TMPDIR and matches the manifests' mountPath.
	defaultWebhookCertDir = "/tmp/k8s-webhook-server/serving-certs"
)

// disableHTTP2 keeps HTTP/2 off the webhook server, as off the metrics
// server, clear of the HTTP/2 rapid-reset CVEs.
func disableHTTP2(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }

// newWebhookServer is the manager's webhook server. Disabled
// (--enable-webhooks=false) it never listens, even if something registers
// a webhook. In self-managed mode it is held back until certsReady closes,
// because controller-runtime's server reads its certificate once when it
// starts and fails without one.
func newWebhookServer(o managerOptions, certsReady <-chan struct{}) crwebhook.Server {
	if !o.enableWebhooks {
		return crwebhook.NewServer(crwebhook.Options{Port: -1})
	}
	srv := crwebhook.NewServer(crwebhook.Options{
		Port:    o.webhookPort,
		CertDir: o.webhookCertDir,
		TLSOpts: []func(*tls.Config){disableHTTP2},
	})
	if certsReady == nil {
		return srv
	}
	return &certGatedServer{Server: srv, ready: certsReady}
}

// certGatedServer starts the webhook server only once the serving
// certificate is in place. The manager runs it with the other webhook
// servers, and its blocked Start holds back nothing else: controllers and
// caches start as usual.
//
// The webhooks are registered before the manager starts; registering them
// after it (when the certificates are ready) would make the first
// GetWebhookServer call start the server concurrently with the
// registrations (controller-runtime v0.25's builder reads the server's mux
// unsynchronized while Start initializes it) and panics if the manager is
// already stopping.
type certGatedServer struct {
	crwebhook.Server
	ready <-chan struct{}
}

func (s *certGatedServer) Start(ctx context.Context) error {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil
	}
	return s.Server.Start(ctx)
}

// setupWebhookServing adds what serving keyward's webhooks (registered by
// manager.Setup) takes beyond the validators: in self-managed mode, the
// cert rotator that closes certsReady; and the readiness check "webhook",
// ready once the certificates are in place and the webhook server accepts
// TLS connections.
func setupWebhookServing(mgr ctrl.Manager, o managerOptions, certsReady chan struct{}) error {
	if o.webhookCertMode == certModeSelfManaged {
		ns := o.managerNamespace
		if err := rotator.AddRotator(mgr, &rotator.CertRotator{
			SecretKey:      types.NamespacedName{Namespace: ns, Name: o.webhookSecretName},
			CertDir:        o.webhookCertDir,
			CAName:         "keyward-webhook-ca",
			CAOrganization: "keyward",
			DNSName:        fmt.Sprintf("%s.%s.svc", o.webhookServiceName, ns),
			ExtraDNSNames:  []string{fmt.Sprintf("%s.%s.svc.cluster.local", o.webhookServiceName, ns)},
			IsReady:        certsReady,
			Webhooks:       []rotator.WebhookInfo{{Name: o.webhookConfigName, Type: rotator.Validating}},
			FieldOwner:     "keyward",
			// Every replica serves the webhook, so every replica needs the
			// certificate, leader or not.
			RequireLeaderElection: false,
		}); err != nil {
			return fmt.Errorf("setting up the webhook cert rotator: %w", err)
		}
	}
	return mgr.AddReadyzCheck("webhook", webhookReadyCheck(certsReady, mgr.GetWebhookServer().StartedChecker()))
}

// webhookReadyCheck fails until certsReady (nil in external mode) is
// closed, then asks the webhook server.
func webhookReadyCheck(certsReady <-chan struct{}, started healthz.Checker) healthz.Checker {
	return func(req *http.Request) error {
		if certsReady != nil {
			select {
			case <-certsReady:
			default:
				return errors.New("the webhook serving certificate is not ready yet (cert rotator)")
			}
		}
		return started(req)
	}
}
