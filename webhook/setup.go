// Package webhook holds keyward's admission validators: one typed validator
// per kind, every violation gathered into one field.ErrorList.
package webhook

import (
	"errors"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/audit"
)

// Options configure the validators.
type Options struct {
	// DefaultAllow decides for namespaces no KeyPolicy selects: true
	// admits keys there, false refuses them.
	DefaultAllow bool
	// Audit receives one line per admitted change to an APIKey that is not
	// a dry run, naming the user who made it: from the validator, and from
	// the recording webhook (AuditPath) for revocations and deletions.
	Audit audit.Sink
	// VerifierNamespace is where the manager publishes signing keys: the
	// only place a kid's owner is recorded that no tenant can write.
	VerifierNamespace string
	// Clock is the present the validators judge expiry by and date audit
	// lines with; the real clock when nil.
	Clock clock.PassiveClock
}

// Setup registers every validator, and the recording webhook, with the
// manager's webhook server. The validators read KeyPolicies, Namespaces
// and parent keys from the manager's cache, and from the API server what
// the cache has not seen yet.
func Setup(mgr ctrl.Manager, opts Options) error {
	if opts.Audit == nil {
		opts.Audit = audit.Discard{}
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.VerifierNamespace == "" {
		return errors.New("webhook: the verifier namespace is required, to refuse a client key whose kid is already published")
	}
	reader := cacheThenLive{cache: mgr.GetClient(), live: mgr.GetAPIReader()}
	if err := ctrl.NewWebhookManagedBy(mgr, &keywardv1.APIKey{}).
		WithValidator(&APIKeyValidator{Reader: reader, Cache: mgr.GetClient(), DefaultAllow: opts.DefaultAllow, Audit: opts.Audit, Clock: opts.Clock}).
		Complete(); err != nil {
		return err
	}
	mgr.GetWebhookServer().Register(AuditPath, &admission.Webhook{Handler: &Recorder{Audit: opts.Audit, Clock: opts.Clock}})
	if err := ctrl.NewWebhookManagedBy(mgr, &keywardv1.SigningKey{}).
		WithValidator(&SigningKeyValidator{Reader: reader, VerifierNamespace: opts.VerifierNamespace}).
		Complete(); err != nil {
		return err
	}
	return ctrl.NewWebhookManagedBy(mgr, &keywardv1.KeyPolicy{}).
		WithValidator(&KeyPolicyValidator{Reader: reader, Cache: mgr.GetClient()}).
		Complete()
}
