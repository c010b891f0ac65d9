package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SigningKeySpec declares an asymmetric key: an issuer key keyward
// generates to sign the tokens its verifier issues, or a client key whose
// public half an owner enrolled so the verifier can check what the client
// signs.
// +kubebuilder:validation:XValidation:rule="self.mode == 'Issuer' ? (has(self.issuer) && !has(self.client)) : (has(self.client) && !has(self.issuer))",message="an Issuer key takes spec.issuer and no spec.client; a Client key takes spec.client and no spec.issuer"
// +kubebuilder:validation:XValidation:rule="self.mode == oldSelf.mode",message="mode is immutable: create a new SigningKey instead"
// +kubebuilder:validation:XValidation:rule="self.mode != 'Client' || has(self.owner)",message="a Client key needs spec.owner, the owner of the APIKey it authenticates as"
// +kubebuilder:validation:XValidation:rule="self.mode == 'Client' || !has(self.evict)",message="evict applies to Client keys only: an issuer key has no replay or clock-skew state"
type SigningKeySpec struct {
	// mode is Issuer (keyward generates the key pair; the private key never
	// leaves the verifier's namespace) or Client (an enrolled public key).
	// It cannot change.
	// +required
	Mode SigningKeyMode `json:"mode"`

	// owner is the user ID or e-mail of whoever enrolled a Client key; it
	// must be the owner of the APIKey the key is linked to. List a user's
	// enrolled keys with `kubectl get signingkeys --field-selector
	// spec.owner=<owner>`.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([A-Za-z0-9._@+-]*[A-Za-z0-9])?$`
	Owner string `json:"owner,omitempty"`

	// issuer configures an Issuer key.
	// +optional
	Issuer *IssuerKey `json:"issuer,omitempty"`

	// client holds a Client key.
	// +optional
	Client *ClientKey `json:"client,omitempty"`

	// evict, each time its value changes, makes the verifier forget the
	// client key's assertion replay cache and clock-skew state within a
	// second: the way back in for a client locked out after its clock
	// jumped. The annotation "keyward.dev/evict" does the same.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Evict string `json:"evict,omitempty"`
}

// SigningKeyMode says what a SigningKey is for.
// +kubebuilder:validation:Enum=Issuer;Client
type SigningKeyMode string

const (
	// SigningKeyModeIssuer: keyward generates the key and the verifier
	// signs access tokens with it.
	SigningKeyModeIssuer SigningKeyMode = "Issuer"
	// SigningKeyModeClient: an owner enrolled the public key of a key pair
	// the client holds; the verifier checks the client's assertions.
	SigningKeyModeClient SigningKeyMode = "Client"
)

// SigningAlgorithm is a JWS algorithm keyward signs and accepts.
// +kubebuilder:validation:Enum=RS256;ES256
type SigningAlgorithm string

const (
	// RS256: RSASSA-PKCS1-v1_5 with SHA-256, RSA keys of 2048 bits or more.
	RS256 SigningAlgorithm = "RS256"
	// ES256: ECDSA on P-256 with SHA-256.
	ES256 SigningAlgorithm = "ES256"
)

// IssuerKey configures the key pair keyward generates and rotates.
// +kubebuilder:validation:XValidation:rule="!has(self.rsaBits) || self.algorithm == 'RS256'",message="rsaBits applies to RS256 only"
type IssuerKey struct {
	// algorithm is RS256 (the default, what most relying parties expect)
	// or ES256.
	// +optional
	// +kubebuilder:default=RS256
	Algorithm SigningAlgorithm `json:"algorithm,omitempty"`

	// rsaBits is the RSA modulus size for RS256: 2048 (default), 3072 or
	// 4096.
	// +optional
	// +kubebuilder:validation:Enum=2048;3072;4096
	RSABits *int32 `json:"rsaBits,omitempty"`

	// tokenLifetimeSeconds is the longest life of a token this key signs
	// (default 300). A retired key stays in the JWKS this long, plus a
	// minute for clock differences, after it stopped signing.
	// +optional
	// +kubebuilder:validation:Minimum=60
	// +kubebuilder:validation:Maximum=86400
	TokenLifetimeSeconds *int64 `json:"tokenLifetimeSeconds,omitempty"`

	// publishAheadSeconds is how long a new key is in the JWKS before it
	// signs (default 600), so relying parties that cache the JWKS know it
	// before they meet its first token. The verifier caps the JWKS cache
	// lifetime to it.
	// +optional
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=604800
	PublishAheadSeconds *int64 `json:"publishAheadSeconds,omitempty"`

	// rotation replaces the key pair on a schedule or on demand.
	// +optional
	Rotation *SigningKeyRotation `json:"rotation,omitempty"`
}

// SigningKeyRotation replaces an issuer key.
type SigningKeyRotation struct {
	// intervalSeconds starts a rotation this long after the current key
	// started signing. Without it the key rotates only on demand.
	// +optional
	// +kubebuilder:validation:Minimum=3600
	// +kubebuilder:validation:Maximum=315360000
	IntervalSeconds *int64 `json:"intervalSeconds,omitempty"`

	// trigger starts a rotation each time its value changes (GitOps); its
	// value when the SigningKey is created starts none. The annotation
	// "keyward.dev/rotate" does the same.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Trigger string `json:"trigger,omitempty"`
}

// ClientKey is an enrolled public key.
// +kubebuilder:validation:XValidation:rule="self.publicKey == oldSelf.publicKey",message="publicKey is immutable: enroll a new SigningKey and delete this one"
// +kubebuilder:validation:XValidation:rule="self.apiKeyName == oldSelf.apiKeyName",message="apiKeyName is immutable: enroll a new SigningKey for another APIKey"
type ClientKey struct {
	// apiKeyName is the APIKey, in this namespace, the client
	// authenticates as. Its spec.authMethods must include ClientAssertion.
	// An object name (a DNS subdomain): keyward quotes it in conditions and
	// Events, which must carry no control characters.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	APIKeyName string `json:"apiKeyName"`

	// publicKey is a PEM "PUBLIC KEY" block or a JWK (JSON) of an RSA key
	// of at least 2048 bits (RS256) or an ECDSA P-256 key (ES256). Never
	// enroll the private key: it is refused.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16384
	PublicKey string `json:"publicKey"`
}

// EvictAnnotation evicts a client key's verifier state whenever its value
// changes, e.g. `kubectl annotate signingkey NAME keyward.dev/evict="$(date +%s)" --overwrite`.
const EvictAnnotation = "keyward.dev/evict"

// Defaults of an issuer key.
const (
	DefaultRSABits              = 2048
	DefaultTokenLifetimeSeconds = 300
	DefaultPublishAheadSeconds  = 600
	// WithdrawLeeway keeps a retired key published past its last token's
	// expiry, for relying parties whose clocks run behind.
	WithdrawLeeway = time.Minute
)

// PublishedKey is one key pair of an issuer SigningKey and its timeline.
type PublishedKey struct {
	// kid names the key in token headers and the JWKS: the RFC 7638
	// thumbprint of its public key, so it never changes.
	// +required
	// +kubebuilder:validation:MaxLength=64
	KID string `json:"kid"`

	// algorithm is RS256 or ES256.
	// +required
	Algorithm SigningAlgorithm `json:"algorithm"`

	// publishedTime is when the key entered the JWKS.
	// +required
	PublishedTime metav1.Time `json:"publishedTime"`

	// activeTime is when the key starts (or started) signing.
	// +required
	ActiveTime metav1.Time `json:"activeTime"`

	// retiredTime is when a newer key took over signing.
	// +optional
	RetiredTime *metav1.Time `json:"retiredTime,omitempty"`

	// withdrawTime is when the key leaves the JWKS: its last token has
	// expired by then.
	// +optional
	WithdrawTime *metav1.Time `json:"withdrawTime,omitempty"`
}

// SigningKeyStatus is what keyward observed and did. It never holds
// private key material.
type SigningKeyStatus struct {
	// conditions: Ready, Published and, for issuer keys, Rotating.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// kid is the newest key's kid: the one that signs, or will once a
	// rotation's publish-ahead time has passed. For a Client key, the kid
	// its assertions must carry.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	KID string `json:"kid,omitempty"`

	// algorithm is the newest key's algorithm.
	// +optional
	Algorithm SigningAlgorithm `json:"algorithm,omitempty"`

	// keys are an issuer's published keys, oldest first: the current one,
	// a retired one until it leaves the JWKS, a new one during its
	// publish-ahead time.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=4
	Keys []PublishedKey `json:"keys,omitempty"`

	// lastRotationTime is when the last rotation started.
	// +optional
	LastRotationTime *metav1.Time `json:"lastRotationTime,omitempty"`

	// nextRotationTime is when the next scheduled rotation starts.
	// +optional
	NextRotationTime *metav1.Time `json:"nextRotationTime,omitempty"`

	// rotationRequest is the trigger and annotation values last acted on.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	RotationRequest string `json:"rotationRequest,omitempty"`

	// keyID is the key ID of the APIKey a Client key authenticates as.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	KeyID string `json:"keyID,omitempty"`

	// apiKeyUID is the UID of the APIKey a Client key was enrolled for,
	// bound when the key was first published. An APIKey deleted and
	// created again under the same name is another APIKey: the key does
	// not follow it and must be enrolled again.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	APIKeyUID string `json:"apiKeyUID,omitempty"`

	// eviction is the evict value and annotation last passed to the
	// verifier.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Eviction string `json:"eviction,omitempty"`

	// lastEvictionTime is when an eviction was last passed to the verifier.
	// +optional
	LastEvictionTime *metav1.Time `json:"lastEvictionTime,omitempty"`
}

// SigningKey is an asymmetric key for tokens: an issuer key keyward
// generates, publishes in the verifier's JWKS and rotates with overlap, or
// a client public key an owner enrolled for an APIKey.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sk,categories=keyward
// +kubebuilder:selectablefield:JSONPath=".spec.owner"
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=".spec.mode"
// +kubebuilder:printcolumn:name="Owner",type=string,JSONPath=".spec.owner"
// +kubebuilder:printcolumn:name="Kid",type=string,JSONPath=".status.kid"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].reason"
// +kubebuilder:printcolumn:name="Algorithm",type=string,JSONPath=".status.algorithm",priority=1
// +kubebuilder:printcolumn:name="Next-Rotation",type=string,JSONPath=".status.nextRotationTime",priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].message",priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type SigningKey struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the key.
	// +required
	Spec SigningKeySpec `json:"spec"`

	// status is what keyward observed.
	// +optional
	Status SigningKeyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SigningKeyList is a list of SigningKeys.
type SigningKeyList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the SigningKeys.
	Items []SigningKey `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &SigningKey{}, &SigningKeyList{})
}

// TokenLifetime is the longest life of a token an issuer key signs.
func (k *SigningKey) TokenLifetime() time.Duration {
	if i := k.Spec.Issuer; i != nil && i.TokenLifetimeSeconds != nil {
		return time.Duration(*i.TokenLifetimeSeconds) * time.Second
	}
	return DefaultTokenLifetimeSeconds * time.Second
}

// PublishAhead is how long a new issuer key is published before it signs.
func (k *SigningKey) PublishAhead() time.Duration {
	if i := k.Spec.Issuer; i != nil && i.PublishAheadSeconds != nil {
		return time.Duration(*i.PublishAheadSeconds) * time.Second
	}
	return DefaultPublishAheadSeconds * time.Second
}

// RotationInterval is the scheduled rotation interval, zero when off.
func (k *SigningKey) RotationInterval() time.Duration {
	if i := k.Spec.Issuer; i != nil && i.Rotation != nil && i.Rotation.IntervalSeconds != nil {
		return time.Duration(*i.Rotation.IntervalSeconds) * time.Second
	}
	return 0
}

// RotationRequest is the on-demand rotation request as one value: the
// spec trigger and the annotation.
func (k *SigningKey) RotationRequest() string {
	var trigger string
	if i := k.Spec.Issuer; i != nil && i.Rotation != nil {
		trigger = i.Rotation.Trigger
	}
	return trigger + "/" + k.Annotations[RotateAnnotation]
}

// EvictionRequest is the eviction request as one value: spec.evict and
// the annotation.
func (k *SigningKey) EvictionRequest() string {
	return k.Spec.Evict + "/" + k.Annotations[EvictAnnotation]
}

// KeyAlgorithm is the algorithm of new issuer keys.
func (k *SigningKey) KeyAlgorithm() (SigningAlgorithm, int) {
	alg, bits := RS256, DefaultRSABits
	if i := k.Spec.Issuer; i != nil {
		if i.Algorithm != "" {
			alg = i.Algorithm
		}
		if i.RSABits != nil {
			bits = int(*i.RSABits)
		}
	}
	return alg, bits
}
