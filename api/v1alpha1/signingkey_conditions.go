package v1alpha1

// Condition types of a SigningKey besides Ready and Published (shared with
// APIKey): Rotating while an issuer has more than one key in its JWKS.
const (
	// KeysRotatingCondition is True while a rotation's overlap runs: a new
	// key waits to sign, or a retired one waits for its last token to
	// expire.
	KeysRotatingCondition = "Rotating"
)

// Condition and Event reasons of a SigningKey.
const (
	// SigningKeyReadyReason: the key is published to the verifier.
	SigningKeyReadyReason = "KeyPublished"
	// KeyGeneratedReason: an issuer key pair was generated.
	KeyGeneratedReason = "KeyGenerated"
	// RotationStartedReason: a new issuer key was published ahead of
	// signing and the current one scheduled for retirement.
	RotationStartedReason = "RotationStarted"
	// KeyActivatedReason: the new issuer key started signing.
	KeyActivatedReason = "KeyActivated"
	// KeyWithdrawnReason: a retired key left the JWKS.
	KeyWithdrawnReason = "KeyWithdrawn"
	// SingleKeyReason: one issuer key is published.
	SingleKeyReason = "SingleKey"
	// OverlapReason: more than one issuer key is published.
	OverlapReason = "Overlap"
	// APIKeyNotReadyReason: the linked APIKey does not exist, has no key
	// ID yet, or is revoked, expired or suspended (the message says
	// which); the verifier then refuses the key's assertions.
	APIKeyNotReadyReason = "APIKeyNotReady"
	// OwnerMismatchReason: spec.owner is not the linked APIKey's owner.
	OwnerMismatchReason = "OwnerMismatch"
	// InvalidPublicKeyReason: the enrolled public key cannot be used.
	InvalidPublicKeyReason = "InvalidPublicKey"
	// EvictedReason: the verifier was told to forget the client key's
	// replay cache and clock-skew state.
	EvictedReason = "Evicted"
	// IssuerNamespaceReason: an issuer key outside the verifier namespace
	// is ignored: whoever may edit a namespace must not choose the key
	// every token is signed with.
	IssuerNamespaceReason = "IssuerOutsideVerifierNamespace"
	// EnrolledReason: a client key was published to the verifier.
	EnrolledReason = "Enrolled"
	// KidInUseReason: another SigningKey already publishes this kid (the
	// thumbprint of the same public key). A kid belongs to one SigningKey
	// cluster-wide, so nothing is written for this one.
	KidInUseReason = "KidInUse"
	// APIKeyReplacedReason: the APIKey a client key was enrolled for was
	// deleted, and one created since under the same name is another
	// object. The key stays bound to the one it was enrolled for; enrol
	// it again for the new APIKey.
	APIKeyReplacedReason = "APIKeyReplaced"
)
