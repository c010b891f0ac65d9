package controllers

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// sealDelivery recognises the delivered secrets of a record whose
// fingerprints this manager cannot check: one written before records kept
// fingerprints and a ledger, or under a fingerprint key since lost. Each
// plaintext found in the delivery Secret is verified against the record's
// own PBKDF2 hash — never hashed and published — and, when it matches,
// fingerprinted. This costs PBKDF2, so it counts against the key's
// reissue backoff; a secret that does not verify is treated as lost.
func (r *APIKeyReconciler) sealDelivery(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	if s.want == nil || s.state == record.Revoked || s.state == record.Expired || s.stop {
		return ctrl.Result{}, nil
	}
	fp, err := r.fingerprinter(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	legacy := s.want.Ledger == nil
	var need []string
	for _, sec := range s.want.Secrets {
		if _, known := fp.Match(keys.Key{}, sec.Fingerprint); !known && !sec.HashOnly && (legacy || s.inLedger(sec.Serial)) {
			need = append(need, sec.Serial)
		}
	}
	if len(need) == 0 {
		return ctrl.Result{}, nil
	}
	if wait := r.reissues.wait(s.key.UID, s.now); wait > 0 {
		s.unsealed = true
		msg := fmt.Sprintf("keyward verifies the delivered secrets once against the record in %s (it holds back after repeated PBKDF2 work for this key).", wait.Round(timeUnit))
		s.setCondition(keywardv1.DeliveredCondition, metav1.ConditionFalse, keywardv1.ReissueBackoffReason, msg)
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if err := r.confirmFresh(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	r.reissues.done(s.key.UID, s.now)
	if s.delivery != nil {
		for _, field := range deliveryFields {
			if err := r.sealField(ctx, s, fp, field, need); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	if legacy {
		s.buildLedger()
	}
	l := s.want.Ledger
	s.currentLost = l.Current == "" || !s.has(l.Current)
	if l.Next != "" && !s.has(l.Next) {
		s.nextLost = true
	}
	return ctrl.Result{}, nil
}

// sealField verifies the plaintext of one delivery field against the
// secrets that field should hold, most likely first.
func (r *APIKeyReconciler) sealField(ctx context.Context, s *apiKeyState, fp *keys.Fingerprinter, field string, need []string) error {
	k, err := keys.Parse(string(s.delivery.Data[field]))
	if err != nil || k.ID() != s.want.KeyID {
		return nil
	}
	for i := len(s.want.Secrets) - 1; i >= 0; i-- {
		sec := &s.want.Secrets[i]
		if !slices.Contains(need, sec.Serial) || s.has(sec.Serial) || (field == DeliveryPreviousKeyField) != (sec.NotAfter != nil) {
			continue
		}
		ok, err := r.Hashes.Verify(ctx, k, sec.Hash)
		if err != nil {
			return err
		}
		if ok {
			sec.Fingerprint = fp.Fingerprint(k)
			s.plain[sec.Serial], s.field[sec.Serial] = k, field
			return nil
		}
	}
	return nil
}

// buildLedger writes down, for a record from before the ledger, which
// secret is where, as the verification found them. Secrets no delivered
// plaintext matched are dropped: no consumer holds them. Rotation requests
// present now count as served.
func (s *apiKeyState) buildLedger() {
	l := &record.Ledger{Generation: max(1, s.key.Status.SecretGeneration)}
	l.HandledTrigger, l.HandledAnnotation = s.key.RotationRequest()
	for serial, field := range s.field {
		switch field {
		case DeliveryKeyField:
			l.Current = serial
		case DeliveryPreviousKeyField:
			l.Previous = serial
		case DeliveryNextKeyField:
			l.Next = serial
		}
	}
	s.want.Secrets = slices.DeleteFunc(s.want.Secrets, func(sec record.Secret) bool { return !s.has(sec.Serial) })
	s.want.Ledger = l
}

func (s *apiKeyState) has(serial string) bool {
	_, ok := s.plain[serial]
	return ok
}

func (s *apiKeyState) inLedger(serial string) bool {
	l := s.want.Ledger
	return serial != "" && (serial == l.Current || serial == l.Previous || serial == l.Next)
}
