package controllers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/internal/record"
)

// apiKeyState carries one reconcile's observations and decisions from phase to
// phase. It holds the plaintext key only in memory, between reading or
// minting it and hashing or delivering it.
type apiKeyState struct {
	reconcileRun
	key      *keywardv1.APIKey
	original *keywardv1.APIKey

	scopes    []string
	expiresAt *time.Time
	state     record.State
	// stateReason and stateMessage explain a state that comes from
	// elsewhere than the key's own spec (its parent, a policy).
	stateReason, stateMessage string

	// rec is the key's record as published (nil when there is none yet),
	// and want the record as this reconcile wants it: its secrets, their
	// windows and the ledger are the key's only source of truth.
	rec  *publishedRecord
	want *record.Record
	// delivery is the delivery Secret as last read or written; plain holds
	// the plaintexts found in it by fingerprint, or generated in this
	// reconcile, by serial, and field where each was found.
	delivery *corev1.Secret
	plain    map[string]keys.Key
	field    map[string]string
	// currentLost: the delivery Secret no longer holds the current secret
	// (deleted, or edited); nextLost: nor the rotation's next one.
	currentLost, nextLost bool
	// unsealed: the record's fingerprints could not be checked yet, so
	// nothing may be concluded from the delivery Secret.
	unsealed bool

	minted, reissued, staged, rotated, graceEnded, repaired bool
	// revealed is the cause (record.RevealRead, RevealDeadline) when this
	// reconcile removed a revealed plaintext from the delivery Secret.
	revealed string
	// preexisting: a first key was written over a delivery Secret that
	// someone else had made.
	preexisting bool
	// imported is a plaintext read from spec.import, for stage to use
	// instead of a generated secret.
	imported      *keys.Key
	recordWritten bool
	recordVersion int64

	// suspendLeaked: the KeyPolicies say Suspend for leaked keys.
	// leakedSerials are the key's secrets reported leaked, and
	// leakSuspended says the key is suspended for one of them: it may
	// still rotate, which is the way out.
	suspendLeaked bool
	leakedSerials map[string]bool
	leakSuspended bool
	// leakHitsCurrent: a leaked secret is the key's current (or next)
	// one, not only a previous one a rotation replaced.
	leakHitsCurrent bool

	// policies are the KeyPolicies that select the key and policyKey the
	// key in their terms, as applyPolicy read them.
	policies  []policy.Rules
	policyKey policy.Key
	// takenFindings are findings taken from the inbox that the published
	// ledger does not hold yet: a reconcile that fails before puts them
	// back. anomalyAcknowledged is the finding a person acknowledged in
	// this reconcile.
	takenFindings       []analytics.Finding
	anomalyAcknowledged *record.Anomaly
	// anomaly is the ledger's current finding once applyAnomaly read the
	// ledger (anomalyRead); a revoked or expired key has none to read.
	anomaly     *record.Anomaly
	anomalyRead bool
}

// rotatable: the key may get a new secret on schedule or on request.
func (s *apiKeyState) rotatable() bool {
	return s.state == record.Active || s.leakSuspended
}

func newAPIKeyState(key *keywardv1.APIKey, now time.Time) *apiKeyState {
	return &apiKeyState{
		reconcileRun: newReconcileRun(now, &key.Status.Conditions, key.Generation),
		key:          key, original: key.DeepCopy(),
		plain: map[string]keys.Key{}, field: map[string]string{},
	}
}

// markReady runs after every phase succeeded and sets Ready and the
// status facts from what the phases found.
func (s *apiKeyState) markReady() {
	revoked := metav1.ConditionFalse
	revokedReason, revokedMsg := keywardv1.NotRevokedReason, "The key is not revoked."
	if s.state == record.Revoked {
		revoked, revokedReason, revokedMsg = metav1.ConditionTrue, keywardv1.RevokedReason, "The key is revoked; the verifier denies it."
		if s.stateReason != "" {
			revokedReason, revokedMsg = s.stateReason, s.stateMessage
		}
	}
	s.setCondition(keywardv1.RevokedCondition, revoked, revokedReason, revokedMsg)

	switch {
	case s.stateReason != "":
		s.setCondition(keywardv1.ReadyCondition, metav1.ConditionFalse, s.stateReason, s.stateMessage)
	case s.state == record.Revoked:
		s.setCondition(keywardv1.ReadyCondition, metav1.ConditionFalse, keywardv1.RevokedReason,
			"The key is revoked and can no longer be used.")
	case s.state == record.Expired:
		s.setCondition(keywardv1.ReadyCondition, metav1.ConditionFalse, keywardv1.ExpiredReason,
			"The key expired at "+s.expiresAt.Format(time.RFC3339)+".")
	case s.state == record.Suspended:
		s.setCondition(keywardv1.ReadyCondition, metav1.ConditionFalse, keywardv1.SuspendedReason,
			"The key is suspended (spec.suspended); the verifier denies it until it is resumed.")
	default:
		s.setCondition(keywardv1.ReadyCondition, metav1.ConditionTrue, keywardv1.KeyReadyReason,
			"The key is delivered to Secret "+s.key.DeliverySecretName()+" and published to the verifier.")
	}
	st := &s.key.Status
	st.SecretName = s.key.DeliverySecretName()
	if st.KeyID != "" {
		st.Prefix = s.key.Spec.Owner + "/" + st.KeyID
	}
	st.ExpirationTime = timeOrNil(s.expiresAt)
	st.PreviousSecretValidUntil = nil
	if cur, ok := s.current(); ok {
		st.IssuedTime = &metav1.Time{Time: cur.NotBefore}
		st.SecretGeneration = s.want.Ledger.Generation
		if prev, ok := s.previous(); ok {
			st.PreviousSecretValidUntil = &metav1.Time{Time: *prev.NotAfter}
			// The current secret replaced the previous one: read from the
			// record, so that a rotation finished after a crash still shows.
			st.LastRotationTime = &metav1.Time{Time: cur.NotBefore}
		}
	}
	s.deliveryStatus()
	if st.PreviousSecretValidUntil != nil && s.state != record.Revoked && s.state != record.Expired {
		s.setCondition(keywardv1.RotatingCondition, metav1.ConditionTrue, keywardv1.GracePeriodReason,
			"The previous secret verifies until "+st.PreviousSecretValidUntil.Format(time.RFC3339)+".")
	} else {
		s.setCondition(keywardv1.RotatingCondition, metav1.ConditionFalse, keywardv1.SingleSecretReason,
			"One secret verifies.")
	}
}

func timeOrNil(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	return &metav1.Time{Time: *t}
}

func (s *apiKeyState) condition(obj *keywardv1.APIKey, condType string) *metav1.Condition {
	return meta.FindStatusCondition(obj.Status.Conditions, condType)
}

// current is the secret consumers read, as the record says.
func (s *apiKeyState) current() (record.Secret, bool) {
	if s.want == nil || s.want.Ledger == nil || s.want.Ledger.Current == "" {
		return record.Secret{}, false
	}
	return s.want.BySerial(s.want.Ledger.Current)
}

// previous is the secret a rotation replaced, while its grace runs.
func (s *apiKeyState) previous() (record.Secret, bool) {
	if s.want == nil || s.want.Ledger == nil || s.want.Ledger.Previous == "" {
		return record.Secret{}, false
	}
	sec, ok := s.want.BySerial(s.want.Ledger.Previous)
	return sec, ok && sec.NotAfter != nil
}

// ledger returns the wanted record's ledger, creating an empty one.
func (s *apiKeyState) ledger() *record.Ledger {
	if s.want.Ledger == nil {
		s.want.Ledger = &record.Ledger{}
	}
	return s.want.Ledger
}
