package controllers

import (
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// VerifierState is what every APIKey's VerifierAvailable condition says.
// Its message names no replica counts: a count that changes would rewrite
// the status of every key without anything a person needs to know.
type VerifierState struct {
	Available       bool
	Reason, Message string
}

// VerifierAvailability carries the verifier's state from the deployer,
// which observes the Deployment, to the APIKey reconciler, which reports
// it on every key, and wakes every key when it changes. It is unknown
// until the deployer's first observation, so that a manager that just
// started does not report a guess.
type VerifierAvailability struct {
	mu          sync.Mutex
	known       bool
	state       VerifierState
	subscribers []chan event.GenericEvent
}

// Get returns the last observed state and whether there was one.
func (a *VerifierAvailability) Get() (VerifierState, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state, a.known
}

// set records an observation and reports whether it changed the state.
func (a *VerifierAvailability) set(s VerifierState) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	setVerifierAvailableMetric(s.Available)
	if a.known && a.state == s {
		return false
	}
	a.known, a.state = true, s
	for _, ch := range a.subscribers {
		// A wake-up already pending covers this one too: whoever
		// receives it reads the state afresh.
		select {
		case ch <- event.GenericEvent{Object: &appsv1.Deployment{}}:
		default:
		}
	}
	return true
}

// subscribe returns a channel that receives an event after each change.
// Each controller gets its own: two controllers reading one channel would
// each see only some of the changes.
func (a *VerifierAvailability) subscribe() <-chan event.GenericEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	ch := make(chan event.GenericEvent, 1)
	a.subscribers = append(a.subscribers, ch)
	return ch
}

// conditionStatus is the VerifierAvailable condition's status for s.
func (s VerifierState) conditionStatus() metav1.ConditionStatus {
	if s.Available {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}
