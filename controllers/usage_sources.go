package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/usage"
)

// ActivitySource is where the usage aggregator reads the verifiers'
// activity: every key's minutes that start in (after, through], all
// replicas summed, each key's in order. readThrough is how far it read: a
// source that failed part way returns what it read before the failure, so
// that those minutes are committed and the rest read again. A source may
// also stop early without an error, to bound what one call holds: the
// aggregator commits what it got and asks again from there.
type ActivitySource interface {
	Minutes(ctx context.Context, after, through time.Time) (_ map[string][]analytics.Minute, readThrough time.Time, _ error)
}

// EmbeddedActivity reads the replicas' activity reports (ConfigMaps) in the
// verifier namespace from the manager's cache, which holds there only the
// ConfigMaps labelled record.VerifierReportLabel. A ConfigMap elsewhere, or
// without that label, is never read, whatever other labels it carries.
type EmbeddedActivity struct {
	Reader    client.Reader
	Namespace string
}

func (e EmbeddedActivity) Minutes(ctx context.Context, after, through time.Time) (map[string][]analytics.Minute, time.Time, error) {
	reports, err := e.reports(ctx)
	if err != nil {
		return nil, after, err
	}
	return usage.SumActivity(reports, after, through), through, nil
}

// reports are the replicas' current activity reports; one that does not
// decode is left out.
func (e EmbeddedActivity) reports(ctx context.Context) ([]usage.ActivityReport, error) {
	list := &corev1.ConfigMapList{}
	// Read-only use of the cache's objects, like the quota reports.
	if err := e.Reader.List(ctx, list, client.InNamespace(e.Namespace),
		client.MatchingLabels{usage.ActivityLabel: "true", record.VerifierReportLabel: "true"}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the activity reports: %w", err)
	}
	reports := make([]usage.ActivityReport, 0, len(list.Items))
	for i := range list.Items {
		cm := &list.Items[i]
		if cm.Namespace != e.Namespace || !strings.HasPrefix(cm.Name, usage.ActivityNamePrefix) {
			continue
		}
		r, err := usage.DecodeActivity([]byte(cm.Data[usage.ActivityDataKey]))
		if err != nil {
			logf.FromContext(ctx).Info("ignoring an activity report that does not decode", "configMap", cm.Name, "error", err.Error())
			continue
		}
		reports = append(reports, r)
	}
	return reports, nil
}

// RedisActivity reads the per-minute hashes the verifiers write their
// counts to, one minute per call: every key's counts of one minute are
// all that a call holds, so a manager that starts (or takes over) and
// reads back what Redis still holds, usage.ActivityRetention, commits it
// minute by minute in bounded memory, and a leader change loses no minute.
type RedisActivity struct {
	Client redis.Cmdable
	Prefix string
}

func (r RedisActivity) Minutes(ctx context.Context, after, through time.Time) (map[string][]analytics.Minute, time.Time, error) {
	if oldest := through.Add(-usage.ActivityRetention).Truncate(time.Minute); after.Before(oldest) {
		after = oldest
	}
	m := after.Add(time.Minute)
	if m.After(through) {
		return nil, after, nil
	}
	got, err := usage.ReadActivity(ctx, r.Client, r.Prefix, m)
	if err != nil {
		return nil, after, fmt.Errorf("reading the activity of %s from Redis: %w", m.Format(time.RFC3339), err)
	}
	out := make(map[string][]analytics.Minute, len(got))
	for id, minute := range got {
		minute.Start = m
		out[id] = []analytics.Minute{minute}
	}
	return out, m, nil
}
