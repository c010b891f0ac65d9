package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/keyward-dev/keyward/internal/record"
)

// RecordJanitor removes revoked keys' tombstone records once their retention
// is over, including those whose APIKey is long gone.
type RecordJanitor struct {
	Client            client.Client
	Clock             clock.PassiveClock
	VerifierNamespace string
	Retention         time.Duration
}

// Reconcile deletes one tombstone when its time has come, or asks to be
// woken then.
func (j *RecordJanitor) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sec := &corev1.Secret{}
	if err := j.Client.Get(ctx, req.NamespacedName, sec); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	rec, err := record.Decode(sec.Data[record.DataKey])
	if err != nil || rec.State != record.Revoked {
		return ctrl.Result{}, nil
	}
	if left := rec.RevokedAt.Add(j.Retention).Sub(j.Clock.Now()); left > 0 {
		return ctrl.Result{RequeueAfter: left}, nil
	}
	if err := j.Client.Delete(ctx, sec, client.Preconditions{ResourceVersion: &sec.ResourceVersion}); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	tombstonesRemovedTotal.Inc()
	return ctrl.Result{}, nil
}

// SetupWithManager watches the record Secrets in the verifier namespace.
func (j *RecordJanitor) SetupWithManager(mgr ctrl.Manager) error {
	isRecord := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == j.VerifierNamespace && o.GetLabels()[record.RecordLabel] == "true"
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Secret{}, builder.WithPredicates(isRecord)).
		Named("record-janitor").
		Complete(j)
}
