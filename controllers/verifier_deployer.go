package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// VerifierDeployer runs the verifier from the manager's configuration and
// observes whether it is available.
//
// It owns every field it sets, replicas included (server-side apply with
// force): scale with --verifier-replicas, not with kubectl scale or an
// autoscaler, which it would undo. Its objects carry no ownerReference
// (nothing in the cluster owns them: the manager's flags do) and stay when
// the manager stops deploying the verifier.
type VerifierDeployer struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Reader reads the self-managed certificate's Secrets from the API
	// server: a cache that has not yet seen the CA just written would
	// have a second one issued. Nil is Client.
	Reader       client.Reader
	Config       VerifierDeployment
	Availability *VerifierAvailability
	// Clock dates the self-managed certificate; nil is the real one.
	Clock clock.PassiveClock
}

// The rules of namespace "verifier" become the manager's Role in the
// verifier namespace (config/rbac renames it, config/default places it):
// the manager may create Roles, RoleBindings and Deployments there and
// nowhere else. The Role it creates grants Secrets list/watch and
// ConfigMaps create/patch, which the manager holds itself (its
// ClusterRole, and its Role there); without that the API server would
// refuse it as an escalation.
//
// +kubebuilder:rbac:groups=apps,namespace=verifier,resources=deployments,verbs=list;watch;create;patch
// +kubebuilder:rbac:groups="",namespace=verifier,resources=services;serviceaccounts,verbs=list;watch;create;patch
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,namespace=verifier,resources=roles;rolebindings,verbs=list;watch;create;patch
// +kubebuilder:rbac:groups=policy,namespace=verifier,resources=poddisruptionbudgets,verbs=list;watch;create;patch

// Reconcile applies the verifier's objects and records whether it is
// available. Every request is the same one: there is one verifier.
func (d *VerifierDeployer) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	var result ctrl.Result
	var certErr error
	if t := d.Config.TLS; t != nil && t.SelfManaged {
		// Before the Deployment, whose pods wait for the Secret to mount.
		result.RequeueAfter, certErr = d.ensureServingCertificate(ctx, d.now())
	}
	available, err := d.apply(ctx)
	err = errors.Join(certErr, err)
	if available == nil {
		// The Deployment's apply failed: the cache is the best there is.
		cached := &appsv1.Deployment{}
		switch getErr := d.Client.Get(ctx, d.key(), cached); {
		case getErr == nil:
			available = &cached.Status.AvailableReplicas
		case !apierrors.IsNotFound(getErr):
			return ctrl.Result{}, errors.Join(err, getErr)
		}
	}
	state := verifierStateOf(available, d.Config.Namespace)
	if d.Availability.set(state) {
		logf.FromContext(ctx).Info("verifier availability changed", "available", state.Available, "reason", state.Reason)
	}
	return result, err
}

func (d *VerifierDeployer) now() time.Time {
	if d.Clock == nil {
		return time.Now()
	}
	return d.Clock.Now()
}

// apply writes every object, the Deployment after the ServiceAccount and
// RBAC its pods need. It returns the Deployment's available replicas as
// the API server answered the apply, nil if that apply failed. Unchanged
// objects cost the API server no write.
func (d *VerifierDeployer) apply(ctx context.Context) (*int32, error) {
	var errs []error
	applied := func(what string, obj runtime.ApplyConfiguration) bool {
		if err := d.Client.Apply(ctx, obj, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			errs = append(errs, fmt.Errorf("applying the verifier's %s: %w", what, err))
			return false
		}
		return true
	}
	c := d.Config
	applied("ServiceAccount", c.serviceAccount())
	applied("Role", c.role())
	applied("RoleBinding", c.roleBinding())
	var available *int32
	if dep := c.deployment(); applied("Deployment", dep) {
		available = new(int32)
		if dep.Status != nil && dep.Status.AvailableReplicas != nil {
			*available = *dep.Status.AvailableReplicas
		}
	}
	applied("Service", c.service())
	applied("PodDisruptionBudget", c.podDisruptionBudget())
	return available, errors.Join(errs...)
}

// verifierStateOf reads availability as "at least one replica answers",
// from the Deployment's available replicas (nil: no Deployment). The
// Deployment's own Available condition means something else here: with
// maxUnavailable 0 it is True only when every replica is available, while
// one replica is enough for keys to be verified.
func verifierStateOf(availableReplicas *int32, namespace string) VerifierState {
	where := namespace + "/" + VerifierName
	switch {
	case availableReplicas == nil:
		return VerifierState{Reason: keywardv1.VerifierNotDeployedReason,
			Message: "The verifier Deployment " + where + " does not exist and the manager could not create it; see the manager's log."}
	case *availableReplicas < 1:
		return VerifierState{Reason: keywardv1.VerifierUnavailableReason,
			Message: "The verifier Deployment " + where + " has no available replica, so requests cannot be verified until one is."}
	default:
		return VerifierState{Available: true, Reason: keywardv1.VerifierAvailableReason,
			Message: "The verifier Deployment " + where + " has an available replica."}
	}
}

func (d *VerifierDeployer) key() types.NamespacedName {
	return types.NamespacedName{Namespace: d.Config.Namespace, Name: VerifierName}
}

// SetupWithManager reconciles once at start and whenever one of the
// verifier's objects changes or goes away (a deleted Deployment comes
// back; status changes carry availability). The cache holds these kinds
// only in the verifier namespace and only with keyward's label
// (CacheOptions), so nothing else in the cluster wakes it.
func (d *VerifierDeployer) SetupWithManager(mgr ctrl.Manager) error {
	if d.Availability == nil {
		return errors.New("the verifier deployer needs an Availability to report to")
	}
	req := reconcile.Request{NamespacedName: d.key()}
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == d.Config.Namespace && o.GetName() == VerifierName
	})
	toVerifier := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{req}
	})
	b := ctrl.NewControllerManagedBy(mgr).Named("verifier")
	for _, obj := range verifierKinds() {
		b = b.Watches(obj, toVerifier, builder.WithPredicates(ours))
	}
	if t := d.Config.TLS; t != nil && t.SelfManaged {
		// A deleted or edited certificate Secret is issued again.
		b = b.Watches(&corev1.Secret{}, toVerifier, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetNamespace() == d.Config.Namespace && o.GetName() == t.Secret ||
				o.GetNamespace() == t.ManagerNamespace && o.GetName() == VerifierCASecret
		})))
	}
	// Watches report only objects that exist; the first deployment
	// starts from nothing.
	return b.WatchesRawSource(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.Add(req)
		return nil
	})).Complete(d)
}

// verifierKinds are the kinds of the verifier's objects.
func verifierKinds() []client.Object {
	return []client.Object{
		&corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{},
		&appsv1.Deployment{}, &corev1.Service{}, &policyv1.PodDisruptionBudget{},
	}
}
