package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// UsageStatus is how a key was used, as the verifiers counted it and the
// manager summed it (docs/analytics.md). It holds no time that moves while
// the key is idle: a key nobody uses costs no status write.
type UsageStatus struct {
	// lastUsedTime is the start of the last minute with a request whose
	// credential verified; unset if none was seen.
	// +optional
	LastUsedTime *metav1.Time `json:"lastUsedTime,omitempty"`

	// lastHour counts the requests of the last 60 minutes.
	// +optional
	LastHour *UsageWindow `json:"lastHour,omitempty"`

	// lastDay counts the requests of the last 24 hours.
	// +optional
	LastDay *UsageWindow `json:"lastDay,omitempty"`

	// topCountries are the countries of the last day's verified requests,
	// most frequent first (ISO 3166-1 alpha-2).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=5
	TopCountries []CountryCount `json:"topCountries,omitempty"`

	// topNetworks are the source networks (IPv4 /24, IPv6 /48) of the last
	// day's verified requests, most frequent first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=5
	TopNetworks []NetworkCount `json:"topNetworks,omitempty"`
}

// UsageWindow counts one period's requests.
type UsageWindow struct {
	// requests is every request that named the key: permitted and denied.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Requests int64 `json:"requests,omitempty"`

	// denials is the requests denied, whatever the reason.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Denials int64 `json:"denials,omitempty"`

	// errorRate is denials ÷ requests as a percentage with one decimal
	// ("2.5%"); unset when there were no requests.
	// +optional
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:Pattern=`^[0-9]{1,3}\.[0-9]%$`
	ErrorRate string `json:"errorRate,omitempty"`

	// topDenials are the most frequent denial reasons, most frequent first
	// (lastDay only).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=3
	TopDenials []DenialCount `json:"topDenials,omitempty"`
}

// DenialCount is how many requests were denied for one reason.
type DenialCount struct {
	// reason is the verifier's denial reason code, e.g. "scope_denied".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	Reason string `json:"reason"`

	// count is how many requests it denied.
	// +required
	// +kubebuilder:validation:Minimum=0
	Count int64 `json:"count"`
}

// CountryCount is how many verified requests came from one country.
type CountryCount struct {
	// country is an ISO 3166-1 alpha-2 code.
	// +required
	// +kubebuilder:validation:Pattern=`^[A-Z]{2}$`
	Country string `json:"country"`

	// requests is how many verified requests came from it.
	// +required
	// +kubebuilder:validation:Minimum=0
	Requests int64 `json:"requests"`
}

// NetworkCount is how many verified requests came from one network.
type NetworkCount struct {
	// network is a prefix: an IPv4 /24 or an IPv6 /48.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=49
	Network string `json:"network"`

	// requests is how many verified requests came from it.
	// +required
	// +kubebuilder:validation:Minimum=0
	Requests int64 `json:"requests"`
}
