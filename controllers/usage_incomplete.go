package controllers

import (
	"context"
	"time"

	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// IncompleteSource is an ActivitySource whose reports may leave keys out
// (the embedded aggregation's, bounded in size). A key missing from such a
// minute may have been used in it, so the aggregator tells the Store,
// which then judges no absence there (analytics.Store.Incomplete):
// otherwise whoever fills the reports' room with key IDs would hide a
// thief's use and make keys in use look silent, and Silence or VolumeDrop
// would suspend or revoke them.
type IncompleteSource interface {
	// IncompleteMinutes are the minutes some current report left keys
	// out of; the same minute may come again.
	IncompleteMinutes(ctx context.Context) ([]time.Time, error)
}

var _ IncompleteSource = EmbeddedActivity{}

func (e EmbeddedActivity) IncompleteMinutes(ctx context.Context) ([]time.Time, error) {
	reports, err := e.reports(ctx)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for _, r := range reports {
		out = append(out, r.IncompleteMinutes()...)
	}
	return out, nil
}

// markIncomplete hands the Store the minutes the source's reports left
// keys out of, before the pass commits or ticks any of them.
func (a *UsageAggregator) markIncomplete(ctx context.Context) {
	src, ok := a.Source.(IncompleteSource)
	if !ok {
		return
	}
	minutes, err := src.IncompleteMinutes(ctx)
	if err != nil {
		logf.FromContext(ctx).Error(err, "reading which minutes the verifiers' reports left keys out of")
		return
	}
	for _, m := range minutes {
		a.Store.Incomplete(m)
	}
}
