package controllers

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/signingrecord"
)

// SigningKeyFinalizer lets the signing-key Secrets, which live in the
// verifier namespace and so cannot be garbage-collected through an
// ownerReference, go with their SigningKey.
const SigningKeyFinalizer = "keyward.dev/signing-key"

// SigningKeyReconciler generates and rotates issuer keys, publishes
// enrolled client keys, and passes evictions on to the verifier: all as
// signing-key Secrets in the verifier namespace.
type SigningKeyReconciler struct {
	Client client.Client
	// APIReader confirms, before a key is generated or a Secret deleted,
	// that the SigningKey read from the cache is the latest: a cache that
	// lags behind our own last status write would otherwise take a key
	// just published for an orphan and delete it.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Clock drives rotation, activation and withdrawal; tests inject a
	// fake one.
	Clock clock.PassiveClock
	// VerifierNamespace is where signing-key Secrets are published.
	VerifierNamespace string

	// secondInstance lets a test run another manager beside the first.
	secondInstance bool
}

// signingKeyState is what one reconcile of a SigningKey knows and decided.
type signingKeyState struct {
	reconcileRun
	key, original *keywardv1.SigningKey
	// secrets are this SigningKey's Secrets in the verifier namespace, by
	// kid; fresh holds private keys generated in this reconcile.
	secrets map[string]*corev1.Secret
	fresh   map[string]bool
	events  []signingEvent
}

type signingEvent struct{ eventType, reason, action, note string }

func (s *signingKeyState) event(eventType, reason, action, note string) {
	s.events = append(s.events, signingEvent{eventType, reason, action, note})
}

// A deleted SigningKey's Secrets go by collection, which only the verifier
// namespace grants (namespace=verifier: see config/rbac).
//
// +kubebuilder:rbac:groups=keyward.dev,resources=signingkeys,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=keyward.dev,resources=signingkeys/status,verbs=patch
// +kubebuilder:rbac:groups=keyward.dev,resources=signingkeys/finalizers,verbs=update
// +kubebuilder:rbac:groups="",namespace=verifier,resources=secrets,verbs=deletecollection

// Reconcile drives one SigningKey towards: its keys published to the
// verifier with the timeline its spec asks for.
func (r *SigningKeyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	key := &keywardv1.SigningKey{}
	if err := r.Client.Get(ctx, req.NamespacedName, key); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !key.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, key)
	}
	if err := ensureFinalizer(ctx, r.Client, key, SigningKeyFinalizer); err != nil {
		return ctrl.Result{}, err
	}
	s := &signingKeyState{reconcileRun: newReconcileRun(r.Clock.Now(), &key.Status.Conditions, key.Generation), key: key, original: key.DeepCopy()}
	defer func() {
		changed, err := writeStatus(ctx, r.Client, &s.reconcileRun, key, s.original,
			&key.Status.ObservedGeneration, func(k *keywardv1.SigningKey) any { return k.Status }, retErr)
		if err != nil {
			retErr = errors.Join(retErr, err)
			return
		}
		if changed {
			for _, e := range s.events {
				r.Recorder.Eventf(key, nil, e.eventType, e.reason, e.action, "%s", e.note)
			}
			r.warnOnFailure(s)
		}
	}()
	if fresh, err := r.isFresh(ctx, key); err != nil || !fresh {
		// The watch brings the newer version and with it the next
		// reconcile; nothing is written from a stale view.
		s.stale = true
		return ctrl.Result{}, err
	}
	phases := []phase[*signingKeyState]{r.loadSecrets, r.ensureIssuerKey, r.rotateIfDue, r.withdrawRetired, r.publishIssuerKeys, r.scheduleIssuer}
	if key.Spec.Mode == keywardv1.SigningKeyModeClient {
		phases = []phase[*signingKeyState]{r.loadSecrets, r.publishClientKey}
	}
	res, done, err := runPhases(ctx, s, phases...)
	if done {
		s.setCondition(keywardv1.ReadyCondition, metav1.ConditionTrue, keywardv1.SigningKeyReadyReason,
			"The key is published to the verifier in "+r.VerifierNamespace+".")
	}
	return res, err
}

// warnOnFailure emits one Warning Event when Ready turns False or its
// reason changes while False.
func (r *SigningKeyReconciler) warnOnFailure(s *signingKeyState) {
	before := conditionOf(s.original.Status.Conditions, keywardv1.ReadyCondition)
	after := conditionOf(s.key.Status.Conditions, keywardv1.ReadyCondition)
	if after == nil || after.Status != metav1.ConditionFalse {
		return
	}
	if before != nil && before.Status == metav1.ConditionFalse && before.Reason == after.Reason {
		return
	}
	r.Recorder.Eventf(s.key, nil, corev1.EventTypeWarning, after.Reason, "Reconcile", "%s", after.Message)
}

// isFresh reports whether the API server holds the version of the
// SigningKey the cache returned.
func (r *SigningKeyReconciler) isFresh(ctx context.Context, key *keywardv1.SigningKey) (bool, error) {
	if r.APIReader == nil {
		return true, nil
	}
	live := &metav1.PartialObjectMetadata{}
	live.SetGroupVersionKind(keywardv1.GroupVersion.WithKind("SigningKey"))
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(key), live); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return live.ResourceVersion == key.ResourceVersion, nil
}

// loadSecrets finds the Secrets this SigningKey published.
func (r *SigningKeyReconciler) loadSecrets(ctx context.Context, s *signingKeyState) (ctrl.Result, error) {
	list := &corev1.SecretList{}
	if err := r.Client.List(ctx, list, client.InNamespace(r.VerifierNamespace),
		client.MatchingLabels{signingrecord.Label: "true", signingrecord.SigningKeyUIDLabel: string(s.key.UID)}); err != nil {
		return ctrl.Result{}, err
	}
	s.secrets = map[string]*corev1.Secret{}
	for i := range list.Items {
		sec := &list.Items[i]
		s.secrets[sec.Labels[signingrecord.KIDLabel]] = sec
	}
	return ctrl.Result{}, nil
}

func (r *SigningKeyReconciler) reconcileDelete(ctx context.Context, key *keywardv1.SigningKey) error {
	if !controllerutil.ContainsFinalizer(key, SigningKeyFinalizer) {
		return nil
	}
	if err := r.Client.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(r.VerifierNamespace),
		client.MatchingLabels{signingrecord.Label: "true", signingrecord.SigningKeyUIDLabel: string(key.UID)}); err != nil {
		return err
	}
	patch := client.MergeFrom(key.DeepCopy())
	controllerutil.RemoveFinalizer(key, SigningKeyFinalizer)
	if err := r.Client.Patch(ctx, key, patch, client.FieldOwner(FieldOwner)); err != nil {
		return client.IgnoreNotFound(err)
	}
	r.Recorder.Eventf(key, nil, corev1.EventTypeNormal, keywardv1.DeletedReason, "Delete", "Removed the key's Secrets from the verifier namespace.")
	return nil
}

// SigningKeyAPIKeyIndex indexes client SigningKeys by their APIKey's name.
const SigningKeyAPIKeyIndex = "spec.client.apiKeyName"

// SetupWithManager watches SigningKeys, their Secrets in the verifier
// namespace and the APIKeys client keys are linked to.
func (r *SigningKeyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &keywardv1.SigningKey{}, SigningKeyAPIKeyIndex, func(o client.Object) []string {
		if c := o.(*keywardv1.SigningKey).Spec.Client; c != nil {
			return []string{c.APIKeyName}
		}
		return nil
	}); err != nil {
		return err
	}
	isSigningSecret := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == r.VerifierNamespace && o.GetLabels()[signingrecord.Label] == "true"
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&keywardv1.SigningKey{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(signingKeyOfSecret), builder.WithPredicates(isSigningSecret)).
		Watches(&keywardv1.APIKey{}, handler.EnqueueRequestsFromMapFunc(r.clientKeysOf)).
		WithOptions(controller.Options{SkipNameValidation: skipNameValidation(r.secondInstance)}).
		Named("signingkey").
		Complete(r)
}

func signingKeyOfSecret(_ context.Context, o client.Object) []reconcile.Request {
	ns, name, ok := splitNamespacedName(o.GetAnnotations()[signingrecord.SigningKeyAnnotation])
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}}}
}

func (r *SigningKeyReconciler) clientKeysOf(ctx context.Context, o client.Object) []reconcile.Request {
	list := &keywardv1.SigningKeyList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{SigningKeyAPIKeyIndex: o.GetName()}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, len(list.Items))
	for i := range list.Items {
		out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}
	}
	return out
}
