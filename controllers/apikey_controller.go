// Package controllers holds keyward's reconcilers, one per kind.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/leak"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/snippets"
	"github.com/keyward-dev/keyward/internal/usage"
)

const (
	// FieldOwner is the server-side apply field manager of every write.
	FieldOwner = "keyward"
	// Finalizer lets the record, which lives in another namespace and so
	// cannot be garbage-collected through an ownerReference, go with its key.
	Finalizer = "keyward.dev/key-record"
	// ManagedByLabel marks every object keyward writes; the manager's cache
	// holds only Secrets that carry it.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "keyward"
)

// APIKeyReconciler issues keys, delivers them and publishes their records.
type APIKeyReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server directly. It confirms what the
	// cache shows before any irreversible step (minting, hashing), because a
	// cache that lags behind our own last write must never cause a second
	// secret.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	Hashes    *HashPool
	// VerifierNamespace is where key records are published.
	VerifierNamespace string
	// ManagerNamespace is the manager's own namespace, which neither the
	// verifier nor the keys' namespaces can read: the fingerprint key of
	// delivered secrets lives there.
	ManagerNamespace string
	// MaxConcurrentReconciles bounds parallel reconciles; hashing is bounded
	// separately by Hashes.
	MaxConcurrentReconciles int
	// WarnBefore is how long before a scheduled rotation or the expiry the
	// Expiring condition, a Warning Event and a notification go out.
	WarnBefore time.Duration
	// TombstoneRetention is how long a revoked key's record stays, so the
	// verifier can answer "revoked" rather than "unknown".
	TombstoneRetention time.Duration
	// Snippets, when set, are the endpoints the integration snippets
	// beside each delivery Secret address; nil writes none.
	Snippets *snippets.Endpoints
	// Notifier, when set, receives the warnings as CloudEvents.
	Notifier Notifier
	// Audit receives one event per lifecycle transition.
	Audit audit.Sink
	// DefaultAllow decides for namespaces no KeyPolicy selects.
	DefaultAllow bool
	// Anomalies hands the usage aggregator's findings to the reconciles
	// of their keys; nil acts on none.
	Anomalies *AnomalyInbox
	// Verifier is the availability of the verifier the manager deploys,
	// reported on every key. Nil when something else runs the verifier
	// (--deploy-verifier=false): keys then carry no VerifierAvailable
	// condition.
	Verifier *VerifierAvailability

	// usage holds the verifiers' decoded usage reports.
	usage usageReports
	// fingerprints is the fingerprint key, loaded on first use; reissues
	// holds back the replacement of secrets lost over and over.
	fingerprints fingerprintKey
	lookups      lookupKey
	reissues     reissueBackoff

	// secondInstance lets a test run another manager beside the first, as
	// during a restart or a leader handover.
	secondInstance bool
}

// The manager's permissions, and why it needs each, are listed in
// docs/permissions.md; keep it in step with these markers. Delivery
// Secrets live in every tenant namespace, so Secrets are cluster-wide:
// read (the cache holds only keyward's own, by label), created and
// patched by server-side apply, deleted with their key; never updated
// whole or deleted by collection. APIKeys are only patched (finalizer),
// their status only patched.
//
// +kubebuilder:rbac:groups=keyward.dev,resources=apikeys,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=keyward.dev,resources=apikeys/status,verbs=patch
// +kubebuilder:rbac:groups=keyward.dev,resources=apikeys/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=keyward.dev,resources=keypolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Reconcile drives one APIKey towards: a secret delivered, its hash
// published, its status telling the story.
func (r *APIKeyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	key := &keywardv1.APIKey{}
	if err := r.Client.Get(ctx, req.NamespacedName, key); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !key.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, key)
	}
	if err := ensureFinalizer(ctx, r.Client, key, Finalizer); err != nil {
		return ctrl.Result{}, err
	}

	s := newAPIKeyState(key, r.Clock.Now())
	defer func() {
		if fs := s.takenFindings; len(fs) > 0 && r.Anomalies != nil {
			r.Anomalies.putBack(key.Status.KeyID, fs)
		}
		r.recordActions(s)
		r.announceReveal(s)
		r.announceRepair(s)
		changed, err := writeStatus(ctx, r.Client, &s.reconcileRun, key, s.original,
			&key.Status.ObservedGeneration, func(k *keywardv1.APIKey) any { return k.Status }, retErr)
		if err != nil {
			retErr = errors.Join(retErr, err)
			return
		}
		if changed {
			r.recordTransitions(s)
		}
	}()

	res, done, err := runPhases(ctx, s,
		r.readSpec,
		r.reportVerifier,
		r.applyPolicy,
		r.loadRecord,
		r.applyLeak,
		r.applyAnomaly,
		r.readDelivery,
		r.sealDelivery,
		r.issueSecret,
		r.rotateIfDue,
		r.publishRecord,
		r.showAnomaly,
		r.consumeImport,
		r.promoteRotation,
		r.revealIfDue,
		r.repairDelivery,
		r.writeSnippets,
		r.warnAndSchedule,
		r.reportQuota,
		r.announceLeak,
		r.announceAnomaly,
	)
	if done {
		s.markReady()
	}
	return res, err
}

// CacheOptions keeps only the Secrets keyward wrote (delivery Secrets and
// key records) in the manager's memory, not every Secret in the cluster,
// the verifier's objects only from the verifier namespace, where the
// manager's Role lets it list and watch them, and of ConfigMaps the
// verifiers' usage and leak reports there (their shared label) and
// keyward's snippets elsewhere. (Snippets of an APIKey in the verifier
// namespace itself are not cached: keys do not belong there.)
func CacheOptions(verifierNamespace string) cache.Options {
	ours := labels.SelectorFromSet(labels.Set{ManagedByLabel: ManagedByValue})
	inVerifierNamespace := map[string]cache.Config{verifierNamespace: {}}
	byObject := map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Label: ours},
		// In the verifier namespace the verifiers' usage and leak reports
		// and no other ConfigMap; elsewhere keyward's own (snippets).
		&corev1.ConfigMap{}: {
			Namespaces: map[string]cache.Config{
				verifierNamespace:   {LabelSelector: labels.SelectorFromSet(labels.Set{record.VerifierReportLabel: "true"})},
				cache.AllNamespaces: {LabelSelector: ours},
			},
		},
	}
	for _, obj := range verifierKinds() {
		byObject[obj] = cache.ByObject{Label: ours, Namespaces: inVerifierNamespace}
	}
	// Nothing reads managed fields from the cache, and they were an eighth
	// of the heap the manager holds per APIKey (with its delivery Secret,
	// record and snippets).
	return cache.Options{ByObject: byObject, DefaultTransform: cache.TransformStripManagedFields()}
}

// readSpec parses what the schema cannot fully check and works out the
// key's state.
func (r *APIKeyReconciler) readSpec(_ context.Context, s *apiKeyState) (ctrl.Result, error) {
	s.expiresAt = s.key.ExpiresAt(s.now)
	switch {
	case s.key.Spec.Revoked:
		s.state = record.Revoked
		if s.key.Status.RevokedTime == nil {
			s.key.Status.RevokedTime = &metav1.Time{Time: s.now}
		}
	case s.key.Status.RevokedTime != nil:
		// Revoked through its parent: a revocation sticks, whatever is
		// created later under the parent's name.
		s.state = record.Revoked
		if c := s.condition(s.key, keywardv1.RevokedCondition); c != nil && c.Status == metav1.ConditionTrue {
			s.stateReason, s.stateMessage = c.Reason, c.Message
		}
	case s.expiresAt != nil && !s.now.Before(*s.expiresAt):
		s.state = record.Expired
	case s.key.Spec.Suspended:
		s.state = record.Suspended
	default:
		s.state = record.Active
	}
	return ctrl.Result{}, nil
}

// SetupWithManager watches APIKeys, the delivery Secrets they own, the
// records they publish, the verifiers' usage reports, what a key's policy
// depends on (KeyPolicies, namespace labels and parent keys) and the
// verifier's availability.
func (r *APIKeyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.ManagerNamespace == "" || r.ManagerNamespace == r.VerifierNamespace {
		return fmt.Errorf("the APIKey controller needs the manager's namespace, and one other than the verifier's (%q): the fingerprint key lives there", r.VerifierNamespace)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &keywardv1.APIKey{}, ParentIndex, func(o client.Object) []string {
		if p := o.(*keywardv1.APIKey).Spec.Parent; p != nil {
			return []string{p.Name}
		}
		return nil
	}); err != nil {
		return err
	}
	isRecord := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == r.VerifierNamespace && o.GetLabels()[record.RecordLabel] == "true"
	})
	isUsage := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == r.VerifierNamespace && o.GetLabels()[usage.Label] == "true"
	})
	isLeak := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == r.VerifierNamespace && o.GetLabels()[leak.Label] == "true"
	})
	if err := mgr.Add(manager.RunnableFunc(r.labelEarlierReports)); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr)
	if r.Verifier != nil {
		b = b.WatchesRawSource(source.Channel(r.Verifier.subscribe(), handler.EnqueueRequestsFromMapFunc(r.everyKey)))
	}
	if r.Anomalies != nil {
		b = b.WatchesRawSource(r.Anomalies.source(r.apiKeyOfKeyID))
	}
	return b.For(&keywardv1.APIKey{}, builder.WithPredicates(ignoreUsageWrites)).
		Owns(&corev1.Secret{}).
		Owns(&corev1.ConfigMap{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(apiKeyOfRecord), builder.WithPredicates(isRecord)).
		Watches(&corev1.ConfigMap{}, r.usageHandler(), builder.WithPredicates(isUsage)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.apiKeyOfLeak), builder.WithPredicates(isLeak)).
		Watches(&keywardv1.APIKey{}, handler.EnqueueRequestsFromMapFunc(r.childrenOf)).
		Watches(&keywardv1.KeyPolicy{}, handler.EnqueueRequestsFromMapFunc(r.everyKey)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.keysInNamespace),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles),
			SkipNameValidation:      skipNameValidation(r.secondInstance),
		}).
		Named("apikey").
		Complete(r)
}

// ParentIndex indexes APIKeys by the name of their parent key.
const ParentIndex = "spec.parent.name"

// childrenOf maps a key to the keys that delegate from it, so that revoking
// or suspending a parent reaches every descendant (each child's reconcile
// then wakes its own children).
func (r *APIKeyReconciler) childrenOf(ctx context.Context, o client.Object) []reconcile.Request {
	list := &keywardv1.APIKeyList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{ParentIndex: o.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return requests(list)
}

func (r *APIKeyReconciler) everyKey(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &keywardv1.APIKeyList{}
	if err := r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return requests(list)
}

func (r *APIKeyReconciler) keysInNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	list := &keywardv1.APIKeyList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetName()), client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return requests(list)
}

// requests reads only the names of list, which the map functions above
// list without a deep copy: one policy or namespace event would otherwise
// copy every APIKey the cache holds, for nothing but their names.
func requests(list *keywardv1.APIKeyList) []reconcile.Request {
	out := make([]reconcile.Request, len(list.Items))
	for i := range list.Items {
		out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}
	}
	return out
}
