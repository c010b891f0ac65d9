package v1alpha1

// Condition types of an APIKey.
const (
	// ReadyCondition is True when the key is delivered, its record is
	// published and it may be used. False only for failures, for a
	// suspended key and for the terminal states Revoked and Expired. Never
	// Unknown: a new key has no Ready condition until a reconcile fails or
	// gets through every step.
	ReadyCondition = "Ready"

	// DeliveredCondition is True when the delivery Secret holds the current
	// key.
	DeliveredCondition = "Delivered"

	// PublishedCondition is True when the key record in the verifier's
	// namespace carries the current hash, scopes and state.
	PublishedCondition = "Published"

	// RevokedCondition is True once the key is revoked.
	RevokedCondition = "Revoked"

	// RotatingCondition is True while a rotation's grace period runs: two
	// secrets verify.
	RotatingCondition = "Rotating"

	// PolicyViolationCondition is True when a KeyPolicy that applies (or
	// the parent key) no longer allows the key as it is.
	PolicyViolationCondition = "PolicyViolation"

	// ExpiringCondition is True when a scheduled rotation or the expiry is
	// near (the manager's --warn-before window).
	ExpiringCondition = "Expiring"

	// VerifierAvailableCondition is True when the verifier the manager
	// deploys has at least one available replica, so the key can be
	// verified on traffic. A key's health does not include the verifier's
	// on its own: tools that only look at the APIKey (Argo CD) learn of an
	// outage here. Absent when the manager does not deploy the verifier
	// (--deploy-verifier=false), because it then cannot tell.
	VerifierAvailableCondition = "VerifierAvailable"

	// AnomalousCondition is True while a finding of the usage analytics
	// (status.anomaly) is neither acknowledged nor, for an alert, older
	// than a day. Its reason is the finding's.
	AnomalousCondition = "Anomalous"
)

// Reasons of the Anomalous condition: one per cause a detector finds
// (the usage analytics' reasons, docs/analytics.md), and the two of a key
// without a current finding.
const (
	// FellSilentReason: a key with a steady baseline stopped being used.
	FellSilentReason = "FellSilent"
	// NewCountryReason: the key was used from a country never seen.
	NewCountryReason = "NewCountry"
	// NewNetworkReason: the key was used from a network never seen.
	NewNetworkReason = "NewNetwork"
	// ImpossibleTravelReason: two countries too far apart for the time
	// between them.
	ImpossibleTravelReason = "ImpossibleTravel"
	// VolumeSpikeReason and VolumeDropReason: the request rate far above or
	// below the key's baseline.
	VolumeSpikeReason = "VolumeSpike"
	VolumeDropReason  = "VolumeDrop"
	// DenialSpikeReason: a spike in the key's denials.
	DenialSpikeReason = "DenialSpike"
	// NoAnomalyReason: no current finding.
	NoAnomalyReason = "NoAnomaly"
	// AnomalyAcknowledgedReason: a person acknowledged the last finding.
	AnomalyAcknowledgedReason = "AnomalyAcknowledged"
	// SuspendedByDetectorReason: a detector's finding suspended the key
	// under an anomalyResponse of Suspend; it stays suspended until the
	// finding is acknowledged. Also the Ready condition's reason then.
	SuspendedByDetectorReason = "SuspendedByDetector"
	// RevokedByDetectorReason: a detector's finding revoked the key under
	// an anomalyResponse of Revoke.
	RevokedByDetectorReason = "RevokedByDetector"
	// KeyAnomalousReason is the Warning Event of a new finding.
	KeyAnomalousReason = "KeyAnomalous"
)

// Condition reasons of an APIKey. They double as Event reasons.
const (
	// KeyReadyReason: the key is delivered and published.
	KeyReadyReason = "KeyReady"
	// RevokedReason: spec.revoked is true.
	RevokedReason = "Revoked"
	// NotRevokedReason: spec.revoked is false.
	NotRevokedReason = "NotRevoked"
	// ExpiredReason: the expiration time has passed.
	ExpiredReason = "Expired"
	// SecretWrittenReason: the delivery Secret holds the current key.
	SecretWrittenReason = "SecretWritten"
	// SecretConflictReason: the delivery Secret exists and belongs to
	// something else; keyward will not overwrite it.
	SecretConflictReason = "SecretConflict"
	// SecretReissuedReason: the delivery Secret was deleted or its key
	// damaged, so a new secret was issued; the previous one no longer
	// verifies.
	SecretReissuedReason = "SecretReissued"
	// RevealedReason: under spec.delivery.revealOnce the current key was
	// read once; the delivery Secret holds only its key ID, and the key
	// keeps verifying.
	RevealedReason = "Revealed"
	// RevealDeadlinePassedReason: under spec.delivery.revealOnce nobody
	// revealed the current key within spec.delivery.revealWithinSeconds;
	// the plaintext left the delivery Secret and the key keeps verifying.
	RevealDeadlinePassedReason = "RevealDeadlinePassed"
	// SnippetsConflictReason: the ConfigMap the integration snippets go
	// to exists and belongs to something else; keyward leaves it alone.
	SnippetsConflictReason = "SnippetsConflict"
	// DeliveryFailedReason: writing the delivery Secret failed.
	DeliveryFailedReason = "DeliveryFailed"
	// ReissueBackoffReason: the delivery Secret lost the current key again
	// soon after the last reissue; the next one waits (see the message).
	ReissueBackoffReason = "ReissueBackoff"
	// KeyIDConflictReason: the key ID in status is bound to another
	// APIKey's record; keyward touches neither.
	KeyIDConflictReason = "KeyIDConflict"
	// ParentReplacedReason: the parent key was deleted and an APIKey of
	// the same name created; a delegated key follows only the parent it
	// was created under.
	ParentReplacedReason = "ParentReplaced"
	// ImportPendingReason: the Secret spec.import.secretRef names does not
	// exist yet; keyward looks again shortly.
	ImportPendingReason = "ImportPending"
	// ImportRefusedReason: spec.import cannot be taken over (see the
	// message): nothing was published; create a new APIKey.
	ImportRefusedReason = "ImportRefused"
	// ImportedReason: the key was taken over from spec.import.
	ImportedReason = "Imported"
	// RecordPublishedReason: the key record is current.
	RecordPublishedReason = "RecordPublished"
	// PublishFailedReason: writing the key record failed.
	PublishFailedReason = "PublishFailed"
	// LeakedReason: a verified leak report named the key, which is revoked
	// or suspended (status.leak).
	LeakedReason = "Leaked"
	// KeyLeakedReason is the Warning Event of a verified leak report.
	KeyLeakedReason = "KeyLeaked"
	// SuspendedReason: spec.suspended is true.
	SuspendedReason = "Suspended"
	// ResumedReason: spec.suspended went back to false.
	ResumedReason = "Resumed"
	// GracePeriodReason: the previous secret still verifies.
	GracePeriodReason = "GracePeriod"
	// SingleSecretReason: exactly one secret verifies.
	SingleSecretReason = "SingleSecret"
	// RotationDueSoonReason: a scheduled rotation is near.
	RotationDueSoonReason = "RotationDueSoon"
	// ExpiresSoonReason: the key's expiry is near.
	ExpiresSoonReason = "ExpiresSoon"
	// NotExpiringReason: nothing is near.
	NotExpiringReason = "NotExpiring"
	// PolicyViolatedReason: a KeyPolicy or the parent key does not allow
	// the key; see the PolicyViolation condition's message.
	PolicyViolatedReason = "PolicyViolated"
	// CompliantReason: every applicable KeyPolicy allows the key.
	CompliantReason = "Compliant"
	// ParentRevokedReason: the parent key is revoked or gone.
	ParentRevokedReason = "ParentRevoked"
	// ParentSuspendedReason: the parent key is suspended.
	ParentSuspendedReason = "ParentSuspended"
	// InvalidSpecReason: the spec passed schema validation but cannot be
	// used (for example a scope the scope grammar refuses).
	InvalidSpecReason = "InvalidSpec"
	// VerifierAvailableReason: the verifier has an available replica.
	VerifierAvailableReason = "VerifierAvailable"
	// VerifierUnavailableReason: the verifier Deployment exists but no
	// replica is available (starting, crashing, not schedulable).
	VerifierUnavailableReason = "VerifierUnavailable"
	// VerifierNotDeployedReason: the verifier Deployment does not exist
	// and the manager could not create it; the manager's log says why.
	VerifierNotDeployedReason = "VerifierNotDeployed"
)

// Event reasons for lifecycle transitions that are not condition reasons.
const (
	// CreatedReason: a key was issued for a new APIKey.
	CreatedReason = "Created"
	// UpdatedReason: the key record changed (scopes, conditions, expiry).
	UpdatedReason = "Updated"
	// DeletedReason: the key record and delivery Secret were removed.
	DeletedReason = "Deleted"
	// RotatedReason: a new secret replaced the current one.
	RotatedReason = "Rotated"
	// GraceEndedReason: the previous secret stopped verifying.
	GraceEndedReason = "GraceEnded"
	// DeliveryRepairedReason: the delivery Secret's keyward fields or
	// annotations had been changed, and keyward wrote them again.
	DeliveryRepairedReason = "DeliveryRepaired"
	// QuotaExhaustedReason: the verifiers reported nothing left of the
	// period's credits; requests are refused until status.quota.resetTime.
	QuotaExhaustedReason = "QuotaExhausted"
)
