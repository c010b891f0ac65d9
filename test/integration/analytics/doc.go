// Package usageanalytics holds the acceptance tests of usage analytics
// through the real path: requests to two verifier replicas, their activity
// reports or Redis counts, the manager's usage aggregator and detectors,
// the APIKey controller's response, and the verifier denying the key.
package usageanalytics
