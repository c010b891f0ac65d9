package controllers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// Every kind is reconciled with the same skeleton, so that what a status
// means reads the same on every kind: phases run in order on one state,
// each phase may stop the ones after it, and the status is patched once,
// at the end, from what they decided.

// reconcileRun is the part of a reconcile's state every kind shares. Each
// kind's state embeds it.
type reconcileRun struct {
	// now is the one instant the whole reconcile reads as the present,
	// truncated to the second that status times can hold: what a phase
	// writes must compare equal to what the next reconcile reads back, or
	// every reconcile would rewrite it.
	now time.Time
	// conditions and generation are the object's: setCondition writes
	// there.
	conditions *[]metav1.Condition
	generation int64
	// stop: a phase reached its verdict (a failure on Ready) and the
	// phases after it have nothing to add.
	stop bool
	// stale: the reconcile read an outdated copy of the object; it
	// concludes nothing, and the watch brings the next one.
	stale bool
}

func newReconcileRun(now time.Time, conditions *[]metav1.Condition, generation int64) reconcileRun {
	return reconcileRun{now: now.UTC().Truncate(time.Second), conditions: conditions, generation: generation}
}

// run gives the phase runner the shared part of any kind's state.
func (b *reconcileRun) run() *reconcileRun { return b }

func (b *reconcileRun) setCondition(condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(b.conditions, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: b.generation,
		LastTransitionTime: metav1.NewTime(b.now),
	})
}

// fail records a failure or terminal state on Ready and stops the phases.
func (b *reconcileRun) fail(reason, message string) {
	b.setCondition(keywardv1.ReadyCondition, metav1.ConditionFalse, reason, message)
	b.stop = true
}

// phase is one named step of a reconcile. A phase never calls another:
// the runner sequences them, so the order of a reconcile is read in one
// place.
type phase[S any] func(context.Context, S) (ctrl.Result, error)

// runPhases runs the phases in order until one returns an error or stops
// the rest, merging their requeue requests. done reports whether every
// phase ran.
func runPhases[S interface{ run() *reconcileRun }](ctx context.Context, s S, phases ...phase[S]) (_ ctrl.Result, done bool, _ error) {
	var merged ctrl.Result
	for _, p := range phases {
		res, err := p(ctx, s)
		merged = earliest(merged, res)
		if err != nil || s.run().stop || s.run().stale {
			return merged, false, err
		}
	}
	return merged, true, nil
}

// earliest merges requeue requests: the soonest non-zero one wins.
func earliest(a, b ctrl.Result) ctrl.Result {
	switch {
	case a.RequeueAfter == 0:
		return b
	case b.RequeueAfter == 0 || a.RequeueAfter < b.RequeueAfter:
		return a
	default:
		return b
	}
}

// ensureFinalizer adds the finalizer before anything is written that only
// the finalizer's cleanup would remove.
func ensureFinalizer(ctx context.Context, c client.Client, obj client.Object, finalizer string) error {
	if controllerutil.ContainsFinalizer(obj, finalizer) {
		return nil
	}
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	controllerutil.AddFinalizer(obj, finalizer)
	return c.Patch(ctx, obj, patch, client.FieldOwner(FieldOwner))
}

// writeStatus ends every reconcile. The status claims the generation it
// describes (observedGeneration) only when the reconcile concluded on that
// generation: no error and no stale read. A phase's verdict on Ready is a
// conclusion. The status is patched only when it changed, and the patch is
// conditional on the resourceVersion the reconcile started from, so a
// reconcile that ran on a stale copy fails here, before it can announce a
// transition that an earlier reconcile already announced. changed reports
// that a patch was sent.
func writeStatus[T client.Object](ctx context.Context, c client.Client, run *reconcileRun, obj, original T,
	observedGeneration *int64, status func(T) any, reconcileErr error) (changed bool, _ error) {
	if reconcileErr == nil && !run.stale {
		*observedGeneration = obj.GetGeneration()
	}
	if equality.Semantic.DeepEqual(status(original), status(obj)) {
		return false, nil
	}
	patch := client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})
	return true, c.Status().Patch(ctx, obj, patch, client.FieldOwner(FieldOwner))
}
