package controllers

import (
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
		Help: "Secrets generated, by reason (created, reissued).",
	}, []string{"reason"})
	recordWritesTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyward_key_record_writes_total",
		Help: "Key records created or changed.",
	})
)

func init() {
	metrics.Registry.MustRegister(hashesTotal, hashSeconds, hashWaitSeconds, keysIssuedTotal, recordWritesTotal)
}
