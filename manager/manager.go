// Package manager assembles keyward's manager: its controllers, the
// verifier deployer and the admission webhooks, wired into a
// controller-runtime manager. `keyward manager`, the envtest suites, the
// integration tests and the benchmarks all call Setup, so that a setting
// added for one of them reaches the others, or is visibly left out.
package manager

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/snippets"
	"github.com/keyward-dev/keyward/webhook"
)

// Parts selects what Setup wires. A test that exercises one part (the
// webhooks alone, the APIKey controller under load) runs without the
// others, whose reconciles would only add noise to what it measures.
type Parts uint

const (
	APIKeys Parts = 1 << iota
	SigningKeys
	KeyPolicies
	// RecordJanitor deletes revoked keys' records after their retention.
	RecordJanitor
	// VerifierDeployer runs the verifier as a Deployment (Options.Verifier)
	// and reports its availability on every APIKey.
	VerifierDeployer
	// Webhooks registers the admission validators with the manager's
	// webhook server; serving certificates are the caller's business.
	Webhooks
	// UsageAggregator sums the verifiers' activity into each key's
	// history and status.usage, and runs the anomaly detectors
	// (Options.Usage).
	UsageAggregator

	// Controllers are the reconcilers of keyward's own kinds.
	Controllers = APIKeys | SigningKeys | KeyPolicies | RecordJanitor
	// All is what `keyward manager` runs by default.
	All = Controllers | VerifierDeployer | Webhooks | UsageAggregator
)

// Options are every setting of the assembled manager.
type Options struct {
	// Parts to wire; zero wires nothing.
	Parts Parts

	// VerifierNamespace holds the key records, signing keys and usage
	// reports; ManagerNamespace what only the manager reads (the
	// fingerprint key). They must differ: the verifier may read every
	// Secret of its namespace.
	VerifierNamespace string
	ManagerNamespace  string

	// Clock is the time of every component that reads it; nil is the
	// real clock. Tests pass a fake one to step through rotations and
	// expiries.
	Clock clock.Clock

	// Hasher computes new keys' PBKDF2 hashes; the zero Hasher is the
	// default iteration count. HashConcurrency is how many run at once,
	// at least one; `keyward manager` defaults it to
	// controllers.DefaultHashConcurrency.
	Hasher          keys.Hasher
	HashConcurrency int
	// MaxConcurrentReconciles of the APIKey controller.
	MaxConcurrentReconciles int
	// WarnBefore is how long before a rotation or expiry to warn.
	WarnBefore time.Duration
	// RevokedRecordRetention is how long a revoked key's record stays, so
	// that the verifier can answer "revoked"; the janitor deletes it after.
	RevokedRecordRetention time.Duration
	// DefaultAllow decides for namespaces no KeyPolicy selects, in the
	// APIKey controller and the webhook alike.
	DefaultAllow bool

	// Notifier receives warnings as CloudEvents; nil sends none.
	Notifier controllers.Notifier
	// Audit receives the audit trail of the controllers and the webhooks;
	// nil records nothing.
	Audit audit.Sink

	// Verifier is the Deployment the VerifierDeployer part runs.
	Verifier controllers.VerifierDeployment

	// Snippets are the endpoints the integration snippets beside each
	// delivery Secret address; zero fields default to the verifier
	// Service in VerifierNamespace (controllers.DefaultSnippetEndpoints).
	Snippets snippets.Endpoints

	// WrapAPIKeyClient, when set, wraps the APIKey controller's client:
	// tests count its writes through it.
	WrapAPIKeyClient func(client.Client) client.Client

	// Usage configures the UsageAggregator part.
	Usage UsageOptions
}

// UsageOptions configure the usage aggregator; zero fields are defaults.
type UsageOptions struct {
	// Interval between the aggregator's passes, and so the shortest time
	// between two status.usage writes of one key.
	Interval time.Duration
	// CloseAfter is how long after its end a minute is read: the
	// verifiers' report interval and a grace for a late report.
	CloseAfter time.Duration
	// Params tune the detectors; the zero value is analytics.DefaultParams.
	Params analytics.Params
	// MaxKeys bounds the keys whose history is kept.
	MaxKeys int
	// MaxWritesPerPass bounds the status.usage writes of one pass.
	MaxWritesPerPass int
	// Redis, when set, is where the verifiers add their activity (the
	// Redis aggregation), under RedisPrefix; nil reads their activity
	// reports (the embedded aggregation).
	Redis       redis.Cmdable
	RedisPrefix string
	// Findings receives each anomaly found, and must not block; nil hands
	// it to the APIKey controller's inbox when that part runs, else logs it.
	Findings func(analytics.KeyFinding)
	// Store replaces the history's store (tests).
	Store controllers.UsageStore
}

// Components are what Setup constructed; a part not wired is nil.
type Components struct {
	APIKeys     *controllers.APIKeyReconciler
	SigningKeys *controllers.SigningKeyReconciler
	KeyPolicies *controllers.KeyPolicyReconciler
	Janitor     *controllers.RecordJanitor
	Deployer    *controllers.VerifierDeployer
	Usage       *controllers.UsageAggregator
	// Availability is the verifier's, shared by the deployer that
	// observes it and the APIKey controller that reports it; nil without
	// the VerifierDeployer part.
	Availability *controllers.VerifierAvailability
	// Anomalies receives the usage analytics' findings (its Report is the
	// usage aggregator's callback); nil without the APIKeys part.
	Anomalies *controllers.AnomalyInbox
}

// Scheme knows the kinds the manager reads and writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(keywardv1.AddToScheme(s))
	return s
}

// Setup wires the selected parts into mgr, which must have been created
// with Scheme and CacheOptions (or a cache holding at least as much).
func Setup(mgr ctrl.Manager, o Options) (*Components, error) {
	if o.VerifierNamespace == "" {
		return nil, errors.New("manager: the verifier namespace is required")
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Hasher == (keys.Hasher{}) {
		var err error
		if o.Hasher, err = keys.NewHasher(0, false); err != nil {
			return nil, err
		}
	}
	c := &Components{}
	if o.Parts&(APIKeys|UsageAggregator) != 0 {
		if err := controllers.IndexKeyIDs(context.Background(), mgr.GetFieldIndexer()); err != nil {
			return nil, fmt.Errorf("indexing APIKeys by key ID: %w", err)
		}
	}
	// The deployer first: the APIKey controller subscribes to the
	// availability it reports.
	if o.Parts&VerifierDeployer != 0 {
		c.Availability = &controllers.VerifierAvailability{}
		c.Deployer = &controllers.VerifierDeployer{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Config: o.Verifier, Availability: c.Availability, Clock: o.Clock}
		if err := c.Deployer.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("setting up the verifier deployer: %w", err)
		}
	}
	if o.Parts&APIKeys != 0 {
		cl := mgr.GetClient()
		if o.WrapAPIKeyClient != nil {
			cl = o.WrapAPIKeyClient(cl)
		}
		c.APIKeys = &controllers.APIKeyReconciler{
			Client:                  cl,
			APIReader:               mgr.GetAPIReader(),
			Recorder:                mgr.GetEventRecorder("keyward"),
			Clock:                   o.Clock,
			Hashes:                  controllers.NewHashPool(o.Hasher, o.HashConcurrency),
			VerifierNamespace:       o.VerifierNamespace,
			ManagerNamespace:        o.ManagerNamespace,
			MaxConcurrentReconciles: o.MaxConcurrentReconciles,
			WarnBefore:              o.WarnBefore,
			TombstoneRetention:      o.RevokedRecordRetention,
			Notifier:                o.Notifier,
			Audit:                   o.Audit,
			DefaultAllow:            o.DefaultAllow,
			Verifier:                c.Availability,
			Snippets:                snippetEndpoints(o),
			Anomalies:               controllers.NewAnomalyInbox(),
		}
		c.Anomalies = c.APIKeys.Anomalies
		if err := c.APIKeys.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("setting up the APIKey controller: %w", err)
		}
	}
	if o.Parts&SigningKeys != 0 {
		c.SigningKeys = &controllers.SigningKeyReconciler{
			Client:            mgr.GetClient(),
			APIReader:         mgr.GetAPIReader(),
			Recorder:          mgr.GetEventRecorder("keyward"),
			Clock:             o.Clock,
			VerifierNamespace: o.VerifierNamespace,
		}
		if err := c.SigningKeys.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("setting up the SigningKey controller: %w", err)
		}
	}
	if o.Parts&KeyPolicies != 0 {
		c.KeyPolicies = &controllers.KeyPolicyReconciler{Client: mgr.GetClient()}
		if err := c.KeyPolicies.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("setting up the KeyPolicy controller: %w", err)
		}
	}
	if o.Parts&RecordJanitor != 0 {
		c.Janitor = &controllers.RecordJanitor{
			Client:            mgr.GetClient(),
			Clock:             o.Clock,
			VerifierNamespace: o.VerifierNamespace,
			Retention:         o.RevokedRecordRetention,
		}
		if err := c.Janitor.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("setting up the record janitor: %w", err)
		}
	}
	if o.Parts&UsageAggregator != 0 {
		var err error
		if o.Usage.Findings == nil && c.Anomalies != nil {
			// The findings go where the APIKey controller acts on them.
			o.Usage.Findings = c.Anomalies.Report
		}
		if c.Usage, err = usageAggregator(mgr, o); err != nil {
			return nil, err
		}
		if err := mgr.Add(c.Usage); err != nil {
			return nil, fmt.Errorf("setting up the usage aggregator: %w", err)
		}
	}
	if o.Parts&Webhooks != 0 {
		if err := webhook.Setup(mgr, webhook.Options{
			Clock:             o.Clock,
			DefaultAllow:      o.DefaultAllow,
			Audit:             o.Audit,
			VerifierNamespace: o.VerifierNamespace,
		}); err != nil {
			return nil, fmt.Errorf("setting up the admission webhooks: %w", err)
		}
	}
	return c, nil
}

func usageAggregator(mgr ctrl.Manager, o Options) (*controllers.UsageAggregator, error) {
	ticker, ok := o.Clock.(clock.WithTicker)
	if !ok {
		return nil, fmt.Errorf("the usage aggregator needs a clock with tickers, not %T", o.Clock)
	}
	u := o.Usage
	store := u.Store
	if store == nil {
		params := u.Params
		if params == (analytics.Params{}) {
			params = analytics.DefaultParams()
		}
		store = analytics.NewStore(params, cmp.Or(u.MaxKeys, controllers.DefaultUsageMaxKeys))
	}
	var source controllers.ActivitySource = controllers.EmbeddedActivity{Reader: mgr.GetClient(), Namespace: o.VerifierNamespace}
	if u.Redis != nil {
		if u.RedisPrefix == "" {
			return nil, errors.New("the usage aggregator's Redis needs the prefix the verifiers write under")
		}
		source = controllers.RedisActivity{Client: u.Redis, Prefix: u.RedisPrefix}
	}
	return &controllers.UsageAggregator{
		Client: mgr.GetClient(), Clock: ticker, Store: store, Source: source,
		Interval: u.Interval, CloseAfter: u.CloseAfter, MaxWritesPerPass: u.MaxWritesPerPass, Findings: u.Findings,
	}, nil
}

// snippetEndpoints fills the endpoints Options leaves out with the
// verifier Service's.
func snippetEndpoints(o Options) *snippets.Endpoints {
	def := controllers.DefaultSnippetEndpoints(o.VerifierNamespace, o.Verifier.TLS != nil)
	e := o.Snippets
	if e.Decision == "" {
		e.Decision = def.Decision
	}
	if e.Token == "" {
		e.Token = def.Token
	}
	return &e
}
