// Package synthetic generates per-minute traffic of many keys, with
// anomalies injected and labelled, from a fixed seed, and scores the
// analytics detectors against the labels (Evaluate): the evidence that
// the detectors' defaults find what they should and little else.
//
// The traffic is what the manager commits into an analytics.Store: one
// analytics.Minute per key and minute with activity, all replicas summed.
package synthetic
