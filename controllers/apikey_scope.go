package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// keyScope carries one reconcile's observations and decisions from phase to
// phase. It holds the plaintext key only in memory, between reading or
// minting it and hashing or delivering it.
type keyScope struct {
	key      *keywardv1.APIKey
	original *keywardv1.APIKey
	now      time.Time

	scopes    []string
	expiresAt *time.Time
	state     record.State

	// delivered is the key the delivery Secret holds (or was just given).
	delivered *keys.Key
	serial    string
	issuedAt  time.Time
	// newHash is set when this reconcile hashed the delivered key.
	newHash string

	minted, reissued bool
	recordWritten    bool
	recordVersion    int64

	stop bool
}

func newKeyScope(key *keywardv1.APIKey, now time.Time) *keyScope {
	return &keyScope{key: key, original: key.DeepCopy(), now: now.UTC().Truncate(time.Second)}
}

func (s *keyScope) setCondition(condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&s.key.Status.Conditions, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: s.key.Generation,
		LastTransitionTime: metav1.NewTime(s.now),
	})
}

// fail records a failure or terminal state on Ready and stops the phases.
func (s *keyScope) fail(reason, message string) {
	s.setCondition(keywardv1.ReadyCondition, metav1.ConditionFalse, reason, message)
	s.stop = true
}

// markReady runs after every phase succeeded and sets Ready from the state.
func (s *keyScope) markReady() {
	revoked := metav1.ConditionFalse
	revokedReason, revokedMsg := keywardv1.NotRevokedReason, "The key is not revoked."
	if s.state == record.Revoked {
		revoked, revokedReason, revokedMsg = metav1.ConditionTrue, keywardv1.RevokedReason, "The key is revoked; the verifier denies it."
	}
	s.setCondition(keywardv1.RevokedCondition, revoked, revokedReason, revokedMsg)

	switch s.state {
	case record.Revoked:
		s.setCondition(keywardv1.ReadyCondition, metav1.ConditionFalse, keywardv1.RevokedReason,
			"The key is revoked and can no longer be used.")
	case record.Expired:
		s.setCondition(keywardv1.ReadyCondition, metav1.ConditionFalse, keywardv1.ExpiredReason,
			"The key expired at "+s.expiresAt.Format(time.RFC3339)+".")
	default:
		s.setCondition(keywardv1.ReadyCondition, metav1.ConditionTrue, keywardv1.KeyReadyReason,
			"The key is delivered to Secret "+s.key.DeliverySecretName()+" and published to the verifier.")
	}
	st := &s.key.Status
	st.SecretName = s.key.DeliverySecretName()
	if st.KeyID != "" {
		st.Prefix = s.key.Spec.Owner + "/" + st.KeyID
	}
	if s.expiresAt != nil {
		st.ExpirationTime = &metav1.Time{Time: *s.expiresAt}
	} else {
		st.ExpirationTime = nil
	}
}

func (s *keyScope) condition(obj *keywardv1.APIKey, condType string) *metav1.Condition {
	return meta.FindStatusCondition(obj.Status.Conditions, condType)
}
