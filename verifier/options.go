package verifier

import (
	"runtime"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
)

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	if o.HashConcurrency <= 0 {
		o.HashConcurrency = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if o.HashQueue <= 0 {
		o.HashQueue = 64
	}
	if o.HashWait <= 0 {
		o.HashWait = time.Second
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 100_000
	}
	if o.FreeFailures <= 0 {
		o.FreeFailures = 3
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 5 * time.Minute
	}
	if o.BackoffTracked <= 0 {
		o.BackoffTracked = 100_000
	}
	if o.Ready == nil {
		o.Ready = func() bool { return true }
	}
	if o.LastContact == nil {
		o.LastContact = o.Clock.Now
	}
	if o.SigningLastContact == nil {
		o.SigningLastContact = o.Clock.Now
	}
	return o
}
