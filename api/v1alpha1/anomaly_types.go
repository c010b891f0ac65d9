package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// AnomalyAction is what keyward does when a detector flags a key
// (docs/analytics.md). The values are ordered by strictness: Ignore <
// Alert < Suspend < Revoke; a key's effective action per detector is the
// strictest of its own and every selecting KeyPolicy's.
// +kubebuilder:validation:Enum=Ignore;Alert;Suspend;Revoke
type AnomalyAction string

const (
	// AnomalyIgnore: the detector's findings of the key are dropped.
	AnomalyIgnore AnomalyAction = "Ignore"
	// AnomalyAlert: the Anomalous condition, a Warning Event, a CloudEvent
	// and an audit line; the key keeps working. The default.
	AnomalyAlert AnomalyAction = "Alert"
	// AnomalySuspend: as Alert, and the verifier denies the key until a
	// person acknowledges the finding (AcknowledgeAnomalyAnnotation).
	AnomalySuspend AnomalyAction = "Suspend"
	// AnomalyRevoke: as Alert, and the key is revoked for good.
	AnomalyRevoke AnomalyAction = "Revoke"
)

// AnomalyResponse says, per detector, what a finding does to a key. An
// unset detector leaves the decision to the other side (the key or its
// policies); when neither sets one, the action is Alert.
type AnomalyResponse struct {
	// silence is the action when a key with a steady baseline stops being
	// used (reason FellSilent).
	// +optional
	Silence *AnomalyAction `json:"silence,omitempty"`

	// newLocation is the action when a key is used from a country or
	// network it was never seen in, or from two countries too far apart
	// for the time between them (NewCountry, NewNetwork, ImpossibleTravel).
	// +optional
	NewLocation *AnomalyAction `json:"newLocation,omitempty"`

	// volume is the action when a key's request rate leaves its own
	// baseline (VolumeSpike, VolumeDrop).
	// +optional
	Volume *AnomalyAction `json:"volume,omitempty"`

	// denials is the action on a spike in a key's denials (DenialSpike).
	// A spike made only of requests that did not prove the secret is
	// never more than an alert: anyone who knows the key ID can cause it.
	// +optional
	Denials *AnomalyAction `json:"denials,omitempty"`
}

// AnomalyStatus is the key's current anomaly finding and what keyward did.
// The key record's ledger, in the verifier's namespace, is the source of
// truth; this is its copy for people and tools.
type AnomalyStatus struct {
	// id names the finding; setting the annotation
	// keyward.dev/acknowledge-anomaly to it acknowledges the finding and
	// lifts a suspension it caused.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`

	// detector is the rule that fired: Silence, NewLocation, Volume or
	// Denials.
	// +required
	// +kubebuilder:validation:MaxLength=32
	Detector string `json:"detector"`

	// reason is the finding's cause, as on the Anomalous condition (e.g.
	// NewCountry, VolumeSpike).
	// +required
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason"`

	// message says what was seen against what was expected.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`

	// detectedTime is when the anomalous activity happened.
	// +required
	DetectedTime metav1.Time `json:"detectedTime"`

	// action is what keyward did: Alert, Suspend or Revoke.
	// +required
	Action AnomalyAction `json:"action"`

	// notActionable is true when anyone who knows the key ID could have
	// caused the finding (a spike of denials of requests that did not
	// prove the key's secret): it only alerts, whatever the policy says,
	// and leaves the key healthy.
	// +optional
	NotActionable bool `json:"notActionable,omitempty"`

	// notifiedTime is when the finding was sent to the notification sink;
	// unset while it has not been (or no sink is configured).
	// +optional
	NotifiedTime *metav1.Time `json:"notifiedTime,omitempty"`
}

// AcknowledgeAnomalyAnnotation, set to the id of the key's current finding
// (status.anomaly.id), acknowledges it: the Anomalous condition clears and
// a suspension by a detector is lifted. Any other value does nothing, so a
// value set before a finding, or an old finding's id, never lifts a later
// one.
const AcknowledgeAnomalyAnnotation = "keyward.dev/acknowledge-anomaly"
