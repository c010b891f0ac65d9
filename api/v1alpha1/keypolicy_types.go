package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KeyPolicySpec says what APIKeys in the selected namespaces may be. When
// several KeyPolicies select a namespace, a key must satisfy all of them.
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
	// +kubebuilder:validation:MaxItems=3
	AllowedAuthMethods []AuthMethod `json:"allowedAuthMethods,omitempty"`

	// rateLimitCeiling, when set, requires every key to have a rate limit
	// at least as strict (spec.rateLimit.limits).
	// +optional
	RateLimitCeiling *RateLimitCeiling `json:"rateLimitCeiling,omitempty"`

	// enforcement says what happens to existing keys that this policy, once
	// changed, no longer allows: Report marks them with the PolicyViolation
	// condition and an Event; Suspend also suspends them until they comply.
	// New and changed keys are always refused at admission.
	// +optional
	// +kubebuilder:default=Report
	Enforcement EnforcementMode `json:"enforcement,omitempty"`
}

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

	// violatingKeys is how many of them it does not allow.
	// +optional
	ViolatingKeys int32 `json:"violatingKeys,omitempty"`
}

// KeyPolicy limits what APIKeys in the namespaces it selects may be:
// allowed scopes, named roles, the longest lifetime and rotation interval,
// and the actions that need a source allowlist. The validating webhook
// refuses keys it does not allow; the controller marks (or suspends)
// existing keys when the policy changes.
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
	SchemeBuilder.Register(&KeyPolicy{}, &KeyPolicyList{})
}

// KeyPolicy condition reasons.
const (
	// PolicyReadyReason: the policy is valid and applied.
	PolicyReadyReason = "PolicyApplied"
)
