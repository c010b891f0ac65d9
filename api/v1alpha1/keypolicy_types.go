package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// KeyPolicySpec says what APIKeys in the selected namespaces may be. When
// several KeyPolicies select a namespace, a key must satisfy all of them.
//
// +kubebuilder:validation:XValidation:rule="!has(self.owners) || !has(self.owners.fromRequester) || (has(oldSelf.owners) && has(oldSelf.owners.fromRequester) && oldSelf.owners.fromRequester == self.owners.fromRequester && oldSelf.namespaceSelector == self.namespaceSelector)",message="owners.fromRequester cannot be added to an existing KeyPolicy or changed, nor the namespaceSelector of a policy that has it: keys created before the binding are told apart by the policy's creation time; create a new KeyPolicy instead"
type KeyPolicySpec struct {
	// namespaceSelector selects the namespaces whose APIKeys this policy
	// governs, by namespace labels. An empty selector selects every
	// namespace.
	// +required
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`

	// allowedScopes, when set, must cover every scope of a key: each key
	// scope must be within one of these patterns (same grammar as
	// APIKey scopes; "*" matches any one segment, admin covers every
	// action).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	AllowedScopes []Scope `json:"allowedScopes,omitempty"`

	// roles are named bundles of scopes: an APIKey may set spec.role to
	// one of these names instead of listing scopes.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Roles []Role `json:"roles,omitempty"`

	// maxLifetimeDays, when set, requires every key to expire at most this
	// many days after its creation.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3650
	MaxLifetimeDays *int32 `json:"maxLifetimeDays,omitempty"`

	// maxRotationIntervalSeconds, when set, requires every key to rotate on
	// a schedule at least this often (spec.rotation.intervalSeconds).
	// +optional
	// +kubebuilder:validation:Minimum=5
	// +kubebuilder:validation:Maximum=315360000
	MaxRotationIntervalSeconds *int64 `json:"maxRotationIntervalSeconds,omitempty"`

	// sourceCIDRsRequiredFor lists actions that a key may only be granted
	// together with a source CIDR allowlist (spec.conditions.sourceCIDRs),
	// for example [write, delete, admin].
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=5
	SourceCIDRsRequiredFor []Action `json:"sourceCIDRsRequiredFor,omitempty"`

	// allowedAuthMethods, when set, lists the only authentication methods
	// a key may have (spec.authMethods; a key without it has [APIKey]).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	AllowedAuthMethods []AuthMethod `json:"allowedAuthMethods,omitempty"`

	// allowedAuthorities, when set, lists the only certificate authorities
	// (as the verifier's configuration names them) that a key's
	// spec.clientCertificate.authority may name. A key bound by thumbprint
	// must then name one of them too, so no self-signed certificate
	// authenticates a key under this policy. Give each tenant's policy
	// only the authorities that issue that tenant's certificates: a key
	// can then not bind another tenant's certificate names.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	AllowedAuthorities []AuthorityName `json:"allowedAuthorities,omitempty"`

	// rateLimitCeiling, when set, requires every key to have a rate limit
	// at least as strict (spec.rateLimit.limits).
	// +optional
	RateLimitCeiling *RateLimitCeiling `json:"rateLimitCeiling,omitempty"`

	// owners, when set, limits who the keys in the selected namespaces may
	// belong to (spec.owner): the user who creates each key
	// (fromRequester), the owners listed (allowed), or either when both
	// are set. Without it, spec.owner is whatever the key's author writes.
	// +optional
	Owners *OwnerRules `json:"owners,omitempty"`

	// enforcement says what happens to existing keys that this policy, once
	// changed, no longer allows: Report marks them with the PolicyViolation
	// condition and an Event; Suspend also suspends them until they comply.
	// New and changed keys are always refused at admission.
	// +optional
	// +kubebuilder:default=Report
	Enforcement EnforcementMode `json:"enforcement,omitempty"`

	// leakedKeys says what happens to a key of the selected namespaces
	// that a verified leak report (docs/leaks.md) names: Revoke revokes it
	// for good; Suspend denies it until its next rotation, after which the
	// leaked secret never verifies again. When several policies select a
	// namespace, Revoke wins unless all of them say Suspend; a namespace
	// no policy selects gets Revoke.
	// +optional
	// +kubebuilder:default=Revoke
	LeakedKeys LeakedKeyAction `json:"leakedKeys,omitempty"`

	// anomalyResponse is the least each detector of the usage analytics
	// must do to a key of the selected namespaces (docs/analytics.md):
	// a key may ask for a stricter action, never a weaker one. Unset
	// detectors require nothing; a key and its policies that set none get
	// Alert.
	// +optional
	AnomalyResponse *AnomalyResponse `json:"anomalyResponse,omitempty"`
}

// AuthorityName names a certificate authority of the verifier's
// configuration: a DNS label such as "mesh" or "partners-ca".
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
type AuthorityName string

// Role is a named bundle of scopes.
type Role struct {
	// name is what APIKeys put in spec.role.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// scopes are the scopes the role grants.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Scopes []Scope `json:"scopes"`
}

// OwnerRules say who keys may belong to.
// +kubebuilder:validation:XValidation:rule="has(self.fromRequester) || has(self.allowed)",message="set fromRequester, allowed, or both"
type OwnerRules struct {
	// fromRequester lets a key belong only to the user who creates it:
	// spec.owner must be that user's name, as the API server authenticated
	// it, in the form this says. It is checked when a key is created
	// (spec.owner cannot change afterwards). The manager cannot tell who
	// created a key that existed before the policy, so it reports such a
	// key (and suspends it with enforcement: Suspend) unless its owner is
	// in allowed. It cannot be added to an existing KeyPolicy or changed.
	// Keys applied by a GitOps tool are created by the tool's
	// ServiceAccount: name their owners in allowed instead.
	// +optional
	FromRequester *RequesterOwner `json:"fromRequester,omitempty"`

	// allowed lists owners that keys may name whoever creates them, such
	// as a team's service identities. "*" matches any run of characters:
	// "svc-payments-*", "*@payments.example.com".
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Allowed []OwnerPattern `json:"allowed,omitempty"`
}

// OwnerPattern is an owner, or a pattern of owners in which "*" matches
// any run of characters.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=128
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._@+*-]+$`
type OwnerPattern string

// RequesterOwner derives the owner a user may give keys from the user's
// name.
// +kubebuilder:validation:XValidation:rule="!has(self.domain) || self.form == 'LocalPart'",message="domain applies only to form LocalPart"
type RequesterOwner struct {
	// form says which part of the username (after stripPrefix) is the
	// owner: Username (all of it) or LocalPart (the part before the last
	// "@" of an e-mail address; a user whose name is not one can own no
	// key here).
	// +optional
	// +kubebuilder:default=Username
	Form OwnerForm `json:"form,omitempty"`

	// stripPrefix is removed from the start of the username first, such as
	// the prefix the API server's --oidc-username-prefix adds ("oidc:"). A
	// user whose name does not begin with it can own no key here.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	StripPrefix string `json:"stripPrefix,omitempty"`

	// domain, with form LocalPart, is the only e-mail domain accepted, such
	// as "example.com" for "alice@example.com". Without it,
	// alice@example.com and alice@example.org own the same keys.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$`
	Domain string `json:"domain,omitempty"`
}

// OwnerForm says which part of a username is the owner.
// +kubebuilder:validation:Enum=Username;LocalPart
type OwnerForm string

const (
	// OwnerFormUsername: the whole username.
	OwnerFormUsername OwnerForm = "Username"
	// OwnerFormLocalPart: the part before the last "@".
	OwnerFormLocalPart OwnerForm = "LocalPart"
)

// Action is one of the actions a scope grants.
// +kubebuilder:validation:Enum=read;write;delete;execute;admin
type Action string

// EnforcementMode says how a policy treats existing keys that violate it.
// +kubebuilder:validation:Enum=Report;Suspend
type EnforcementMode string

const (
	// EnforcementReport marks violating keys without changing them.
	EnforcementReport EnforcementMode = "Report"
	// EnforcementSuspend suspends violating keys until they comply.
	EnforcementSuspend EnforcementMode = "Suspend"
)

// LeakedKeyAction is what happens to a key reported leaked.
// +kubebuilder:validation:Enum=Revoke;Suspend
type LeakedKeyAction string

const (
	// LeakedKeyRevoke revokes a leaked key for good.
	LeakedKeyRevoke LeakedKeyAction = "Revoke"
	// LeakedKeySuspend denies a leaked key until its next rotation.
	LeakedKeySuspend LeakedKeyAction = "Suspend"
)

// KeyPolicyStatus is what keyward observed.
type KeyPolicyStatus struct {
	// conditions: Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// selectedKeys is how many APIKeys this policy governs.
	// +optional
	SelectedKeys int32 `json:"selectedKeys,omitempty"`

	// violatingKeys is how many of them it does not allow: the keys that
	// name this policy in status.violatedPolicies.
	// +optional
	ViolatingKeys int32 `json:"violatingKeys,omitempty"`
}

// KeyPolicy limits what APIKeys in the namespaces it selects may be:
// allowed scopes, named roles, the longest lifetime and rotation interval,
// the actions that need a source allowlist, the loosest rate limit, the
// allowed auth methods, and who keys may belong to. The validating webhook
// refuses keys it does not allow; the APIKey controller marks (or
// suspends) existing keys when the policy changes.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=kp,categories=keyward
// +kubebuilder:printcolumn:name="Enforcement",type=string,JSONPath=".spec.enforcement"
// +kubebuilder:printcolumn:name="Keys",type=integer,JSONPath=".status.selectedKeys"
// +kubebuilder:printcolumn:name="Violating",type=integer,JSONPath=".status.violatingKeys"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type KeyPolicy struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the policy.
	// +required
	Spec KeyPolicySpec `json:"spec"`

	// status is what keyward observed.
	// +optional
	Status KeyPolicyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// KeyPolicyList is a list of KeyPolicies.
type KeyPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the KeyPolicies.
	Items []KeyPolicy `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &KeyPolicy{}, &KeyPolicyList{})
}

// Selects reports whether the policy governs a namespace with these labels.
func (p *KeyPolicy) Selects(namespaceLabels map[string]string) (bool, error) {
	sel, err := metav1.LabelSelectorAsSelector(&p.Spec.NamespaceSelector)
	if err != nil {
		return false, err
	}
	return sel.Matches(labels.Set(namespaceLabels)), nil
}

// KeyPolicy condition reasons.
const (
	// PolicyReadyReason: the policy is valid and applied.
	PolicyReadyReason = "PolicyApplied"
)
