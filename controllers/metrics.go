package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics carry no per-key labels: key IDs are unbounded.
var (
	hashesTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyward_pbkdf2_hashes_total",
		Help: "PBKDF2 hashes computed by the manager.",
	})
	hashSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "keyward_pbkdf2_hash_seconds",
		Help:    "Time to compute one PBKDF2 hash.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 10),
	})
	hashWaitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "keyward_pbkdf2_queue_wait_seconds",
		Help:    "Time a reconcile waited for a hashing slot.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
	keysIssuedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_keys_issued_total",
		Help: "Secrets put into use, by reason (created, imported, reissued, rotated).",
	}, []string{"reason"})
	recordWritesTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyward_key_record_writes_total",
		Help: "Key records created or changed.",
	})
	notificationsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyward_notifications_total",
		Help: "Warnings delivered to the notification sink.",
	})
	notificationFailuresTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyward_notification_failures_total",
		Help: "Warnings the notification sink did not accept (retried).",
	})
	anomalyFindingsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_anomaly_findings_total",
		Help: "Findings of the usage analytics handed to the APIKey controller, by detector.",
	}, []string{"detector"})
	anomalyFindingsDroppedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyward_anomaly_findings_dropped_total",
		Help: "Findings dropped because the anomaly inbox held the most keys it may.",
	})
	tombstonesRemovedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyward_tombstones_removed_total",
		Help: "Revoked key records removed after their retention.",
	})
)

func init() {
	metrics.Registry.MustRegister(hashesTotal, hashSeconds, hashWaitSeconds, keysIssuedTotal, recordWritesTotal,
		notificationsTotal, notificationFailuresTotal, tombstonesRemovedTotal, anomalyFindingsTotal, anomalyFindingsDroppedTotal)
}

// verifierAvailable is registered on the first observation, not in init:
// a manager that does not deploy the verifier, or a replica that is not
// the leader, knows nothing about it and must not export a 0 that an
// alert would read as an outage.
var (
	verifierAvailable = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "keyward_verifier_available",
		Help: "1 when the verifier Deployment the manager runs has an available replica, 0 when it has none.",
	})
	registerVerifierAvailable sync.Once
)

func setVerifierAvailableMetric(available bool) {
	registerVerifierAvailable.Do(func() { metrics.Registry.MustRegister(verifierAvailable) })
	if available {
		verifierAvailable.Set(1)
	} else {
		verifierAvailable.Set(0)
	}
}
