package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// APIKeySpec declares one API key.
//
// +kubebuilder:validation:XValidation:rule="has(self.scopes) != has(self.role)",message="set exactly one of scopes or role"
// +kubebuilder:validation:XValidation:rule="self.owner == oldSelf.owner",message="owner is immutable: create a new APIKey for another owner"
// +kubebuilder:validation:XValidation:rule="has(self.parent) == has(oldSelf.parent) && (!has(self.parent) || self.parent.name == oldSelf.parent.name)",message="parent is immutable: create a new APIKey to delegate from another key"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.revoked) || !oldSelf.revoked || (has(self.revoked) && self.revoked)",message="revoked cannot be undone: a revoked key stays revoked; create a new APIKey instead"
// +kubebuilder:validation:XValidation:rule="has(self.clientCertificate) == (has(self.authMethods) && 'MutualTLS' in self.authMethods)",message="clientCertificate is set exactly when authMethods contains MutualTLS: the MutualTLS method needs the certificate it accepts, and a binding without the method would never be used"
// +kubebuilder:validation:XValidation:rule="has(self.__import__) == has(oldSelf.__import__) && (!has(self.__import__) || self.__import__ == oldSelf.__import__)",message="import is set at creation only: it cannot be added to an existing key, changed or removed"
// +kubebuilder:validation:XValidation:rule="has(self.delivery) && has(self.delivery.secretName) ? (has(oldSelf.delivery) && has(oldSelf.delivery.secretName) && oldSelf.delivery.secretName == self.delivery.secretName) : !(has(oldSelf.delivery) && has(oldSelf.delivery.secretName))",message="delivery.secretName is immutable: create a new APIKey to deliver to another Secret"
type APIKeySpec struct {
	// owner is the user or service the key belongs to, for example a user ID
	// such as "15a6" or an e-mail address. Together with the key ID it forms
	// the key's prefix "<owner>/<keyID>", and
	// `kubectl get apikeys --field-selector spec.owner=<owner>` lists the keys
	// of one owner. A KeyPolicy may limit it (spec.owners) to the user who
	// creates the key or to a list. It cannot change after creation.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([A-Za-z0-9._@+-]*[A-Za-z0-9])?$`
	Owner string `json:"owner"`

	// description says what the key is for. It is shown by kubectl describe
	// and copied into the key record for audit; never put secrets in it.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Description string `json:"description,omitempty"`

	// scopes lists what the key may do, each written
	// "<org>/<project>/<type>[/<id>]:<action>", for example
	// "acme/payments/investigations:read". org > project > resource type >
	// resource ID is a hierarchy; "*" as a whole segment matches any one
	// value; without an ID the scope covers every resource of the type.
	// action is one of read, write, delete, execute or admin, and admin
	// implies the other four.
	// Set exactly one of scopes and role.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Scopes []Scope `json:"scopes,omitempty"`

	// role asks for a named bundle of scopes defined by a KeyPolicy that
	// applies to this namespace, instead of listing scopes.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Role string `json:"role,omitempty"`

	// parent delegates from another APIKey in this namespace: this key may
	// hold only a subset of the parent's scopes, must have every access
	// condition the parent has, each at least as strict, and expire no
	// later. Revoking or
	// suspending the parent revokes or suspends this key too. It cannot
	// change after creation.
	// +optional
	Parent *ParentReference `json:"parent,omitempty"`

	// authMethods are the ways the key may authenticate: APIKey (the key
	// itself in a request header), ClientCredentials (exchanged for a
	// short-lived token at the verifier's OAuth 2.0 token endpoint),
	// ClientAssertion (a JWT signed with a client SigningKey linked to this
	// key) and MutualTLS (a client certificate, RFC 8705, as
	// clientCertificate binds it). Omitted means [APIKey].
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	AuthMethods []AuthMethod `json:"authMethods,omitempty"`

	// clientCertificate binds the key to client certificates for the
	// MutualTLS auth method: by the certificate's SHA-256 thumbprint, or by
	// a name in it plus the certificate authority that must have issued
	// it. Set exactly when authMethods contains MutualTLS.
	// +optional
	ClientCertificate *ClientCertificate `json:"clientCertificate,omitempty"`

	// rateLimit limits the key's request rate and spending: see RateLimit.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// conditions restrict where, when and from what device the key may be
	// used: source networks, named network classes, countries, time windows
	// and device compliance. A request must meet every condition that is
	// set; one the verifier cannot establish (no address, no country) is
	// not met.
	// +optional
	Conditions *AccessConditions `json:"conditions,omitempty"`

	// expiration ends the key's validity, either a number of days after the
	// APIKey was created (afterDays) or at a fixed time (at). Without it the
	// key does not expire.
	// +optional
	Expiration *Expiration `json:"expiration,omitempty"`

	// delivery says where the plaintext key is written for its consumer.
	// +optional
	Delivery *Delivery `json:"delivery,omitempty"`

	// rotation replaces the key's secret on a schedule or on demand. The key
	// ID stays; during the grace period the previous secret verifies too and
	// stays in the delivery Secret under "previousKey".
	// +optional
	Rotation *Rotation `json:"rotation,omitempty"`

	// suspended, while true, makes the verifier deny the key with reason
	// "suspended". Setting it back to false resumes the key with the same
	// secret.
	// +optional
	Suspended bool `json:"suspended,omitempty"`

	// revoked, once true, revokes the key for good: the verifier denies it
	// with reason "revoked". It cannot be set back to false.
	// +optional
	Revoked bool `json:"revoked,omitempty"`

	// anomalyResponse says per detector what a finding of the usage
	// analytics does to the key (docs/analytics.md): Ignore, Alert (the
	// default), Suspend or Revoke. A KeyPolicy may require at least some
	// action; the stricter of the key's and its policies' applies, and
	// admission refuses a key that asks for less than its policies.
	// +optional
	AnomalyResponse *AnomalyResponse `json:"anomalyResponse,omitempty"`

	// Import of an existing key (docs/import.md).

	// import takes over a key from another system instead of minting one:
	// its plaintext, read once from a Secret, or its PBKDF2-SHA256 hash.
	// It is set at creation only. The key is rotated into keyward's format
	// at its first rotation.
	// +optional
	Import *KeyImport `json:"import,omitempty"`
}

// AuthMethod is one way an API key may authenticate.
// +kubebuilder:validation:Enum=APIKey;ClientCredentials;ClientAssertion;MutualTLS
type AuthMethod string

const (
	// AuthMethodAPIKey: the key itself, in the Authorization or API-key
	// header of each request.
	AuthMethodAPIKey AuthMethod = "APIKey"
	// AuthMethodClientCredentials: the key authenticates an OAuth 2.0
	// client credentials grant and the request carries the token.
	AuthMethodClientCredentials AuthMethod = "ClientCredentials"
	// AuthMethodClientAssertion: a JWT signed with an enrolled client
	// SigningKey linked to the key.
	AuthMethodClientAssertion AuthMethod = "ClientAssertion"
	// AuthMethodMutualTLS: a client certificate that spec.clientCertificate
	// binds, presented in the TLS handshake or by a trusted proxy.
	AuthMethodMutualTLS AuthMethod = "MutualTLS"
)

// DefaultAuthMethods is what a key without spec.authMethods may use.
var DefaultAuthMethods = []AuthMethod{AuthMethodAPIKey}

// ParentReference names the APIKey a key delegates from.
type ParentReference struct {
	// name of the parent APIKey, in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// Scope is one permission, "<org>/<project>/<type>[/<id>]:<action>".
// The pattern is scope.Pattern from keyward's scope package, which the
// verifier and the webhook use to read scopes; a test keeps them equal.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=256
// +kubebuilder:validation:Pattern=`^([*]|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)/([*]|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)/([*]|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(/([*]|[A-Za-z0-9][A-Za-z0-9._-]{0,127}))?:(read|write|delete|execute|admin)$`
type Scope string

// AccessConditions restrict the requests a key may authorise.
// +kubebuilder:validation:MinProperties=1
type AccessConditions struct {
	// sourceCIDRs allows requests only from these networks, for example
	// "203.0.113.0/24" or "2001:db8::/32". The client address is taken from
	// the connection, or from trusted proxy headers as the verifier is
	// configured. An IPv4 client connecting over IPv6 ("::ffff:203.0.113.7")
	// counts as its IPv4 address.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	SourceCIDRs []CIDR `json:"sourceCIDRs,omitempty"`

	// timeWindows allows requests only inside one of these windows of
	// wall-clock time, for example office hours on weekdays in
	// "Europe/Berlin". A window follows its time zone's daylight saving
	// time.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	TimeWindows []TimeWindow `json:"timeWindows,omitempty"`

	// countries allows requests only from these countries, as ISO 3166-1
	// alpha-2 codes in upper case such as "DE". The verifier takes a
	// request's country from a header its configuration trusts; a request
	// whose country is unknown is denied.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=250
	Countries []CountryCode `json:"countries,omitempty"`

	// networks allows requests only from these network classes, such as
	// "corp" or "vpn". The verifier's configuration names the classes and
	// the CIDRs in each; a request must come from an address in one of
	// them. A class the configuration does not define admits nothing.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Networks []NetworkName `json:"networks,omitempty"`

	// requireCompliantDevice, when true, allows only requests from a
	// device a header the verifier trusts reports as compliant. A request
	// without that report is denied.
	// +optional
	RequireCompliantDevice bool `json:"requireCompliantDevice,omitempty"`
}

// TimeWindow is a daily window of wall-clock time in a time zone, on
// chosen weekdays.
// +kubebuilder:validation:XValidation:rule="self.start != self.end",message="start and end must differ: a window that closes when it opens would be empty; use 00:00 to 24:00 for a whole day"
type TimeWindow struct {
	// days are the weekdays the window opens on; every day when omitted. A
	// window that ends past midnight belongs to the day it opens on: Fri
	// 22:00 to 02:00 admits Saturday 01:00, not Friday 01:00.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=7
	Days []Weekday `json:"days,omitempty"`

	// start is when the window opens, "HH:MM" in 24-hour time, for
	// example "09:00". The minute it names is inside the window.
	// +required
	// +kubebuilder:validation:MinLength=5
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`

	// end is when the window closes, "HH:MM", for example "18:00"; the
	// minute it names is no longer inside. "24:00" closes at midnight. An
	// end before the start closes the window the next day, so "22:00" to
	// "06:00" is a night.
	// +required
	// +kubebuilder:validation:MinLength=5
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:Pattern=`^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$`
	End string `json:"end"`

	// timeZone is the IANA time zone start and end are read in, for
	// example "Europe/Berlin" or "America/New_York"; UTC when omitted.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`
	TimeZone string `json:"timeZone,omitempty"`
}

// Weekday is a day of the week, written with its first three letters.
// +kubebuilder:validation:Enum=Mon;Tue;Wed;Thu;Fri;Sat;Sun
type Weekday string

// CountryCode is an ISO 3166-1 alpha-2 country code in upper case, such as
// "DE" or "US".
// +kubebuilder:validation:MinLength=2
// +kubebuilder:validation:MaxLength=2
// +kubebuilder:validation:Pattern=`^[A-Z]{2}$`
type CountryCode string

// NetworkName names a network class of the verifier's configuration: a
// DNS label such as "corp" or "vpn-eu".
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
type NetworkName string

// CIDR is an IPv4 or IPv6 network in CIDR notation.
// +kubebuilder:validation:MaxLength=49
// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="must be a network in CIDR notation, such as 10.0.0.0/8 or 2001:db8::/32"
type CIDR string

// Expiration ends a key's validity.
// +kubebuilder:validation:XValidation:rule="has(self.afterDays) != has(self.at)",message="set exactly one of afterDays or at"
type Expiration struct {
	// afterDays is the key's lifetime in days, counted from the APIKey's
	// creation time.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3650
	AfterDays *int32 `json:"afterDays,omitempty"`

	// at is the time the key expires, in RFC 3339 form.
	// +optional
	At *metav1.Time `json:"at,omitempty"`
}

// Delivery says where the plaintext key goes.
// +kubebuilder:validation:XValidation:rule="!has(self.revealWithinSeconds) || (has(self.revealOnce) && self.revealOnce)",message="revealWithinSeconds needs revealOnce: true; without one-time delivery the key stays readable"
type Delivery struct {
	// secretName is the Secret, in the APIKey's namespace, that receives the
	// key under the data key "key" (and its public ID under "keyID"). It
	// defaults to the APIKey's name. keyward never overwrites a Secret it
	// did not create. It cannot be changed after creation.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	SecretName string `json:"secretName,omitempty"`

	// revealOnce, when true, makes the plaintext readable once: after
	// `kubectl keyward reveal` read it (the annotation
	// "keyward.dev/revealed" naming the secret's serial tells keyward
	// so), or after revealWithinSeconds, the delivery Secret keeps only
	// the key ID and the fact that the key was revealed. The key keeps
	// verifying. Each rotation delivers its new secret again, once.
	// +optional
	RevealOnce bool `json:"revealOnce,omitempty"`

	// revealWithinSeconds, with revealOnce, removes the plaintext from the
	// delivery Secret this many seconds after the secret was issued
	// (status.issuedTime), whether or not anyone read it.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=31536000
	RevealWithinSeconds *int64 `json:"revealWithinSeconds,omitempty"`
}

// RevealedAnnotation tells keyward that the secret whose serial it names
// (the delivery Secret's keyward.dev/serial annotation) was read, so that
// a key with spec.delivery.revealOnce stops being readable. `kubectl
// keyward reveal` sets it. Serials are random and new with every secret:
// a value naming neither the current secret nor the one a rotation just
// replaced changes nothing, so a copied or restored manifest, or a value
// preset for a rotation to come, never removes a key nobody read.
const RevealedAnnotation = "keyward.dev/revealed"

// The endpoints the integration snippets address, as keyward writes them
// on the snippets ConfigMap (status.delivery.snippetsConfigMap) for people
// reading it. Tools read status.delivery.endpoints instead: the ConfigMap
// is writable by anyone who edits the namespace.
const (
	SnippetsDecisionURLAnnotation = "keyward.dev/decision-url"
	SnippetsTokenURLAnnotation    = "keyward.dev/token-url"
	SnippetsAPIURLAnnotation      = "keyward.dev/api-url"
)

// Rotation replaces a key's secret.
type Rotation struct {
	// intervalSeconds rotates the secret this many seconds after it was
	// issued. Without it the secret is rotated only on demand. A rotation
	// that would fall after the key's expiry does not happen.
	// +optional
	// +kubebuilder:validation:Minimum=5
	// +kubebuilder:validation:Maximum=315360000
	IntervalSeconds *int64 `json:"intervalSeconds,omitempty"`

	// gracePeriodSeconds is how long the previous secret keeps verifying
	// after a rotation, so that consumers can pick up the new one. Zero ends
	// it at once. Defaults to 3600 (one hour).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=31536000
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`

	// trigger rotates the secret once each time its value changes, for
	// GitOps: commit a new value (a date, a ticket number) to rotate.
	// Re-applying the same value never rotates again. Its value when the
	// APIKey is created rotates nothing. The annotation
	// "keyward.dev/rotate" does the same for `kubectl annotate` users.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Trigger string `json:"trigger,omitempty"`
}

// KeyImport names the key an APIKey takes over. Set exactly one of
// secretRef and hash.
// +kubebuilder:validation:XValidation:rule="has(self.secretRef) != has(self.hash)",message="set exactly one of import.secretRef (a plaintext) and import.hash"
// +kubebuilder:validation:XValidation:rule="has(self.hash) == has(self.keyID)",message="import.keyID is set exactly with import.hash: a plaintext carries its own key ID"
type KeyImport struct {
	// secretRef names a Secret in the APIKey's namespace, of type
	// "keyward.dev/import", that holds the plaintext key once. The key
	// must be in keyward's format and keeps its key ID. keyward hashes it,
	// delivers it, publishes the hash, then deletes that Secret and never
	// reads it again.
	// +optional
	SecretRef *ImportSecretReference `json:"secretRef,omitempty"`

	// hash is the key's PBKDF2-HMAC-SHA256 hash in PHC form,
	// "$pbkdf2-sha256$i=<iterations>$<salt>$<hash>" (standard base64
	// without padding; passlib's "$pbkdf2-sha256$<iterations>$..." is
	// accepted too), with 10000 to 10000000 iterations, a salt of at least
	// 16 bytes and a 32-byte hash. No plaintext is then delivered.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Hash string `json:"hash,omitempty"`

	// keyID is the key ID of the key whose hash is imported: 16 characters
	// of [a-z2-7], the part of a keyward key between "keyward_" and the
	// secret. Set exactly with hash.
	// +optional
	// +kubebuilder:validation:MinLength=16
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^[a-z2-7]{16}$`
	KeyID string `json:"keyID,omitempty"`
}

// ImportSecretReference names the Secret an imported plaintext is read from.
type ImportSecretReference struct {
	// name of the Secret, in the APIKey's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key is the data key that holds the plaintext; "key" when omitted.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// ImportSecretType is the type an import Secret must have: keyward reads
// and deletes no Secret of any other type, so a delivery Secret can never
// be named as an import.
const ImportSecretType = "keyward.dev/import"

// ImportSecretDefaultKey is the data key read when secretRef.key is unset.
const ImportSecretDefaultKey = "key"

// RotateAnnotation requests a rotation whenever its value changes, e.g.
// `kubectl annotate apikey NAME keyward.dev/rotate="$(date +%s)" --overwrite`.
const RotateAnnotation = "keyward.dev/rotate"

// DefaultGracePeriodSeconds applies when rotation.gracePeriodSeconds is unset.
const DefaultGracePeriodSeconds = 3600

// APIKeyStatus is what keyward observed and did. It never holds secret
// material.
type APIKeyStatus struct {
	// conditions: Ready, and Delivered, Published, Revoked, Rotating,
	// PolicyViolation, Expiring and VerifierAvailable with the detail.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// keyID is the key's public identifier, the part of the key after
	// "keyward_" and before the secret. It is safe to share. Only keyward
	// writes it, so `--field-selector status.keyID=<keyID>` finds a key by
	// it where a label could be forged by anyone who edits the APIKey.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	KeyID string `json:"keyID,omitempty"`

	// prefix names the key as "<owner>/<keyID>";
	// `--field-selector status.prefix=<owner>/<keyID>` finds the key by it.
	// +optional
	// +kubebuilder:validation:MaxLength=145
	Prefix string `json:"prefix,omitempty"`

	// secretName is the Secret that holds the plaintext key.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName,omitempty"`

	// secretGeneration counts the secrets the key has had: 1 for the
	// first, one more for each rotation or reissue.
	// +optional
	SecretGeneration int64 `json:"secretGeneration,omitempty"`

	// issuedTime is when the current secret was generated.
	// +optional
	IssuedTime *metav1.Time `json:"issuedTime,omitempty"`

	// expirationTime is when the key stops being valid.
	// +optional
	ExpirationTime *metav1.Time `json:"expirationTime,omitempty"`

	// lastRotationTime is when the secret was last replaced.
	// +optional
	LastRotationTime *metav1.Time `json:"lastRotationTime,omitempty"`

	// nextRotationTime is when the secret is due for scheduled rotation.
	// +optional
	NextRotationTime *metav1.Time `json:"nextRotationTime,omitempty"`

	// previousSecretValidUntil is when the previous secret stops verifying,
	// while a rotation's grace period runs.
	// +optional
	PreviousSecretValidUntil *metav1.Time `json:"previousSecretValidUntil,omitempty"`

	// scopes are the scopes the key holds: spec.scopes, or the scopes of
	// spec.role as the applicable KeyPolicies define it.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Scopes []string `json:"scopes,omitempty"`

	// violatedPolicies names the KeyPolicies that do not allow the key as
	// it is; the PolicyViolation condition says why. Each KeyPolicy counts
	// the keys that name it here.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	ViolatedPolicies []string `json:"violatedPolicies,omitempty"`

	// revokedTime is when the key was revoked, by spec.revoked or through
	// its parent. A revocation sticks: once set, the key stays revoked.
	// +optional
	RevokedTime *metav1.Time `json:"revokedTime,omitempty"`

	// parentUID is the UID of the parent key (spec.parent) this key was
	// first seen under. A delegated key follows only that parent: if the
	// parent is deleted and another APIKey of the same name created, this
	// key is revoked, and a suspension through the parent lifts only when
	// that same parent resumes.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	ParentUID string `json:"parentUID,omitempty"`

	// delivery tells where the key and its integration snippets are, and
	// whether the current secret was revealed.
	// +optional
	Delivery *DeliveryStatus `json:"delivery,omitempty"`

	// quota is the key's spending of spec.rateLimit.quota in the current
	// period, as the verifiers last reported it.
	// +optional
	Quota *QuotaStatus `json:"quota,omitempty"`

	// usage is how the key was used over the last hour and day, written by
	// the manager's usage aggregator under its own field manager
	// (keyward-usage) at most once per interval (a minute by default), and
	// never while nothing changed.
	// +optional
	Usage *UsageStatus `json:"usage,omitempty"`

	// Import of an existing key (docs/import.md).

	// importedTime is when spec.import was consumed: the key's record was
	// published with the imported secret. spec.import is never read again.
	// +optional
	ImportedTime *metav1.Time `json:"importedTime,omitempty"`

	// leak is the latest verified report that the key was published
	// somewhere (a secret-scanning partner found it), and what keyward did.
	// Once set, it stays: a leak-revoked key stays revoked whatever its
	// spec says.
	// +optional
	Leak *LeakStatus `json:"leak,omitempty"`

	// anomaly is the key's current finding of the usage analytics and
	// what keyward did about it, until it is acknowledged (annotation
	// keyward.dev/acknowledge-anomaly) or, for an alert, a day has passed.
	// +optional
	Anomaly *AnomalyStatus `json:"anomaly,omitempty"`
}

// LeakStatus is a verified leak of a key and what keyward did about it.
type LeakStatus struct {
	// url is where the reporter found the key, when it said.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url,omitempty"`

	// source is the kind of place the key was found in, as the reporter
	// names it (e.g. "content", "commit", "issue_comment").
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Source string `json:"source,omitempty"`

	// reportedTime is when the verifier received and verified the report.
	// +required
	ReportedTime metav1.Time `json:"reportedTime"`

	// action is what keyward did: Revoke or Suspend (the applicable
	// KeyPolicies' spec.leakedKeys), or None when the key had already
	// expired or been revoked.
	// +required
	Action LeakAction `json:"action"`

	// notifiedTime is when the leak was sent to the notification sink;
	// unset while it has not been (or no sink is configured).
	// +optional
	NotifiedTime *metav1.Time `json:"notifiedTime,omitempty"`
}

// LeakAction is what keyward did about a leaked key.
// +kubebuilder:validation:Enum=Revoke;Suspend;None
type LeakAction string

const (
	// LeakActionRevoke: the key was revoked for good.
	LeakActionRevoke LeakAction = "Revoke"
	// LeakActionSuspend: the key is denied until its next rotation.
	LeakActionSuspend LeakAction = "Suspend"
	// LeakActionNone: the key had already expired or been revoked.
	LeakActionNone LeakAction = "None"
)

// DeliveryStatus is what happened to the delivered plaintext.
type DeliveryStatus struct {
	// revealedTime is when the plaintext of the current secret left the
	// delivery Secret under spec.delivery.revealOnce: read through
	// `kubectl keyward reveal`, or at revealDeadline. Unset while it is
	// still readable.
	// +optional
	RevealedTime *metav1.Time `json:"revealedTime,omitempty"`

	// revealDeadline is when the plaintext of the current secret leaves
	// the delivery Secret if nobody reveals it first
	// (spec.delivery.revealWithinSeconds).
	// +optional
	RevealDeadline *metav1.Time `json:"revealDeadline,omitempty"`

	// snippetsConfigMap is the ConfigMap, beside the delivery Secret, that
	// holds ready-to-use examples (curl, Go, Python, JavaScript, Envoy,
	// Traefik, nginx) for this key's auth methods. They read the key from
	// the delivery Secret or an environment variable and never contain it.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SnippetsConfigMap string `json:"snippetsConfigMap,omitempty"`

	// endpoints are the verifier's URLs the snippets address, from the
	// manager's configuration. `kubectl keyward snippet` reads them here,
	// where only keyward writes, rather than from the ConfigMap, which
	// anyone who edits the namespace can change.
	// +optional
	Endpoints *SnippetEndpoints `json:"endpoints,omitempty"`
}

// SnippetEndpoints are where the integration snippets send requests.
type SnippetEndpoints struct {
	// decisionURL is the base URL of the verifier's decision port, which
	// proxies ask.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	DecisionURL string `json:"decisionURL"`

	// tokenURL is the URL of the verifier's OAuth 2.0 token endpoint.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	TokenURL string `json:"tokenURL"`

	// apiURL is the protected service the client snippets call, when the
	// manager was told one.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	APIURL string `json:"apiURL,omitempty"`
}

// APIKey is one API key: keyward generates it, delivers the plaintext to a
// Secret in this namespace, and publishes only its PBKDF2 hash, scopes and
// conditions to the verifier.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ak,categories=keyward
// +kubebuilder:selectablefield:JSONPath=".spec.owner"
// +kubebuilder:selectablefield:JSONPath=".status.prefix"
// +kubebuilder:selectablefield:JSONPath=".status.keyID"
// +kubebuilder:printcolumn:name="Owner",type=string,JSONPath=".spec.owner"
// +kubebuilder:printcolumn:name="Prefix",type=string,JSONPath=".status.prefix"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].reason"
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=".status.expirationTime"
// +kubebuilder:printcolumn:name="Next-Rotation",type=string,JSONPath=".status.nextRotationTime",priority=1
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=".status.secretName",priority=1
// +kubebuilder:printcolumn:name="Revealed",type=date,JSONPath=".status.delivery.revealedTime",priority=1
// +kubebuilder:printcolumn:name="Snippets",type=string,JSONPath=".status.delivery.snippetsConfigMap",priority=1
// +kubebuilder:printcolumn:name="Verifier",type=string,JSONPath=".status.conditions[?(@.type==\"VerifierAvailable\")].status",priority=1
// +kubebuilder:printcolumn:name="Last-Used",type=date,JSONPath=".status.usage.lastUsedTime",priority=1
// +kubebuilder:printcolumn:name="Anomaly",type=string,JSONPath=".status.anomaly.reason",priority=1
// +kubebuilder:printcolumn:name="Quota-Left",type=integer,JSONPath=".status.quota.remaining",priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].message",priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type APIKey struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the key.
	// +required
	Spec APIKeySpec `json:"spec"`

	// status is what keyward observed.
	// +optional
	Status APIKeyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// APIKeyList is a list of APIKeys.
type APIKeyList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the APIKeys.
	Items []APIKey `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &APIKey{}, &APIKeyList{})
}

// GracePeriod is the rotation grace period in effect.
func (k *APIKey) GracePeriod() time.Duration {
	if k.Spec.Rotation != nil && k.Spec.Rotation.GracePeriodSeconds != nil {
		return time.Duration(*k.Spec.Rotation.GracePeriodSeconds) * time.Second
	}
	return DefaultGracePeriodSeconds * time.Second
}

// RotationInterval is the scheduled rotation interval, zero when off.
func (k *APIKey) RotationInterval() time.Duration {
	if k.Spec.Rotation != nil && k.Spec.Rotation.IntervalSeconds != nil {
		return time.Duration(*k.Spec.Rotation.IntervalSeconds) * time.Second
	}
	return 0
}

// RotationRequest is what asks for on-demand rotation: the spec trigger
// and the annotation, as one comparable value.
func (k *APIKey) RotationRequest() (trigger, annotation string) {
	if k.Spec.Rotation != nil {
		trigger = k.Spec.Rotation.Trigger
	}
	return trigger, k.Annotations[RotateAnnotation]
}

// DeliverySecretName is the Secret the key is delivered to.
func (k *APIKey) DeliverySecretName() string {
	if k.Spec.Delivery != nil && k.Spec.Delivery.SecretName != "" {
		return k.Spec.Delivery.SecretName
	}
	return k.Name
}

// ExpiresAt is when the key expires, or nil. created stands in for the
// creation time of a key that is not created yet.
func (k *APIKey) ExpiresAt(created time.Time) *time.Time {
	e := k.Spec.Expiration
	if !k.CreationTimestamp.IsZero() {
		created = k.CreationTimestamp.Time
	}
	switch {
	case e == nil:
		return nil
	case e.At != nil:
		t := e.At.UTC()
		return &t
	case e.AfterDays != nil:
		t := created.UTC().Add(time.Duration(*e.AfterDays) * 24 * time.Hour)
		return &t
	}
	return nil
}

// RevealOnce reports whether the key asks for one-time delivery.
func (k *APIKey) RevealOnce() bool {
	return k.Spec.Delivery != nil && k.Spec.Delivery.RevealOnce
}

// RevealWithin is how long an unread plaintext stays in the delivery
// Secret under one-time delivery, zero for as long as it takes.
func (k *APIKey) RevealWithin() time.Duration {
	if !k.RevealOnce() || k.Spec.Delivery.RevealWithinSeconds == nil {
		return 0
	}
	return time.Duration(*k.Spec.Delivery.RevealWithinSeconds) * time.Second
}

// SnippetsConfigMapName is the ConfigMap beside the delivery Secret that
// holds the key's integration snippets, "" when the Secret's name leaves
// no room for the suffix within an object name's 253 characters.
func (k *APIKey) SnippetsConfigMapName() string {
	name := k.DeliverySecretName() + "-snippets"
	if len(name) > 253 {
		return ""
	}
	return name
}

// EffectiveAuthMethods are the key's authentication methods, the default
// when it sets none.
func (k *APIKey) EffectiveAuthMethods() []AuthMethod {
	if len(k.Spec.AuthMethods) == 0 {
		return DefaultAuthMethods
	}
	return k.Spec.AuthMethods
}
