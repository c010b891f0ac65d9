package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RateLimit limits how much a key may do: rates over short periods, and a
// budget of credits refilled on a calendar schedule. The verifier refuses a
// request that any of them would not admit with 429 and reason
// "rate_limited" or "quota_exhausted"; a refused request spends nothing
// from the others.
// +kubebuilder:validation:MinProperties=1
// +kubebuilder:validation:XValidation:rule="!has(self.costs) || has(self.limits) || has(self.quota)",message="costs need limits or a quota to spend from"
type RateLimit struct {
	// limits apply to every request of the key; a request must fit all of
	// them (per second and per minute, say).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	Limits []Limit `json:"limits,omitempty"`

	// quota is a budget of credits for each calendar day or month, refilled
	// when the period begins. What is spent is reported in status.quota.
	// +optional
	Quota *Quota `json:"quota,omitempty"`

	// costs is how many units one request of an action spends from every
	// limit and from the quota; an action not listed costs 1. A route in the
	// verifier's configuration may set its own cost, which takes precedence.
	// +optional
	Costs *ActionCosts `json:"costs,omitempty"`
}

// Limit is one rate limit.
// +kubebuilder:validation:XValidation:rule="!has(self.burst) || self.strategy == 'TokenBucket'",message="burst applies only to the TokenBucket strategy"
type Limit struct {
	// name identifies the limit in the RateLimit-Policy header and in
	// messages, e.g. "per-second".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// strategy is how the limit counts: FixedWindow (per window aligned to
	// the clock; up to twice the limit across a window boundary),
	// SlidingWindow (never more than limit in any period, at any offset) or
	// TokenBucket (limit tokens added per period, at most burst saved up).
	// +required
	Strategy RateLimitStrategy `json:"strategy"`

	// limit is the cost allowed per period (the tokens added per period for
	// a TokenBucket).
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000
	Limit int64 `json:"limit"`

	// periodSeconds is the length of the window, or the refill interval of
	// a TokenBucket.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=31622400
	PeriodSeconds int64 `json:"periodSeconds"`

	// burst is a TokenBucket's capacity: how much an idle key may spend at
	// once. Defaults to limit.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000
	Burst *int64 `json:"burst,omitempty"`

	// sharedBy says whose requests count against the limit: Key (this key
	// alone, the default) or Owner (every key of spec.owner in this
	// namespace that declares a limit of the same name, strategy and
	// period). Keys of the same owner name in other namespaces count apart:
	// an owner is a claim made in one namespace.
	// +optional
	// +kubebuilder:default=Key
	SharedBy LimitSharing `json:"sharedBy,omitempty"`
}

// Quota is a budget of credits per calendar period.
type Quota struct {
	// credits is the budget of each period.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000000
	Credits int64 `json:"credits"`

	// refill is the calendar period: Daily (from midnight) or Monthly (from
	// the first of the month), in timeZone.
	// +required
	Refill QuotaRefill `json:"refill"`

	// timeZone is the IANA time zone of the calendar, e.g. "Europe/Berlin".
	// Defaults to UTC.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`
	TimeZone string `json:"timeZone,omitempty"`

	// sharedBy says whose requests spend the budget: Key (the default) or
	// Owner (every key of spec.owner in this namespace with the same refill
	// and time zone).
	// +optional
	// +kubebuilder:default=Key
	SharedBy LimitSharing `json:"sharedBy,omitempty"`
}

// ActionCosts is the cost of one request of each action.
type ActionCosts struct {
	// read is the cost of a read request.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	Read *int64 `json:"read,omitempty"`
	// write is the cost of a write request.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	Write *int64 `json:"write,omitempty"`
	// delete is the cost of a delete request.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	Delete *int64 `json:"delete,omitempty"`
	// execute is the cost of an execute request.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	Execute *int64 `json:"execute,omitempty"`
	// admin is the cost of a request that needs admin.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	Admin *int64 `json:"admin,omitempty"`
}

// RateLimitStrategy is how a limit counts.
// +kubebuilder:validation:Enum=FixedWindow;SlidingWindow;TokenBucket
type RateLimitStrategy string

const (
	FixedWindow   RateLimitStrategy = "FixedWindow"
	SlidingWindow RateLimitStrategy = "SlidingWindow"
	TokenBucket   RateLimitStrategy = "TokenBucket"
)

// QuotaRefill is the calendar period of a quota.
// +kubebuilder:validation:Enum=Daily;Monthly
type QuotaRefill string

const (
	Daily   QuotaRefill = "Daily"
	Monthly QuotaRefill = "Monthly"
)

// LimitSharing says whose requests count against a limit.
// +kubebuilder:validation:Enum=Key;Owner
type LimitSharing string

const (
	SharedByKey   LimitSharing = "Key"
	SharedByOwner LimitSharing = "Owner"
)

// RateLimitCeiling is the loosest rate limit a KeyPolicy allows.
type RateLimitCeiling struct {
	// limit and periodSeconds are the highest sustained rate a key may
	// have: every key needs at least one limit whose limit per
	// periodSeconds is no higher.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000
	Limit int64 `json:"limit"`

	// periodSeconds is the period of limit.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=31622400
	PeriodSeconds int64 `json:"periodSeconds"`

	// maxBurst, when set, is the most that limit may let a key spend at
	// once (its burst, or its limit for windows).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000
	MaxBurst *int64 `json:"maxBurst,omitempty"`
}

// QuotaStatus is what the verifiers last reported of a key's quota.
type QuotaStatus struct {
	// used is what the key (or its owner, for a shared quota) spent in the
	// current period.
	// +optional
	Used int64 `json:"used"`

	// remaining is what is left of the period's credits.
	// +optional
	Remaining int64 `json:"remaining"`

	// resetTime is when the next period begins and the credits refill.
	// +optional
	ResetTime *metav1.Time `json:"resetTime,omitempty"`

	// reportedTime is when a verifier last reported the usage.
	// +optional
	ReportedTime *metav1.Time `json:"reportedTime,omitempty"`
}
