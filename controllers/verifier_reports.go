package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/keyward-dev/keyward/internal/leak"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/usage"
)

// labelEarlierReports runs once at start: the manager caches only the
// ConfigMaps with record.VerifierReportLabel, which verifiers of earlier
// versions did not set, and a leak report is written once.
func (r *APIKeyReconciler) labelEarlierReports(ctx context.Context) error {
	n, err := LabelVerifierReports(ctx, r.APIReader, r.Client, r.VerifierNamespace)
	if err != nil {
		// Not fatal: the reports of current verifiers are labelled.
		logf.FromContext(ctx).Error(err, "labelling the verifier reports of earlier versions failed")
	} else if n > 0 {
		logf.FromContext(ctx).Info("labelled the verifier reports of earlier versions", "configMaps", n)
	}
	return nil
}

// LabelVerifierReports sets record.VerifierReportLabel on the usage and
// leak reports in namespace that lack it, reading them past the cache,
// and returns how many it labelled.
func LabelVerifierReports(ctx context.Context, reader client.Reader, c client.Client, namespace string) (int, error) {
	n := 0
	for _, kind := range []string{leak.Label, usage.Label} {
		list := &corev1.ConfigMapList{}
		if err := reader.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{kind: "true"}); err != nil {
			return n, fmt.Errorf("listing ConfigMaps labelled %s: %w", kind, err)
		}
		for i := range list.Items {
			cm := &list.Items[i]
			if cm.Labels[record.VerifierReportLabel] == "true" {
				continue
			}
			patch := client.MergeFrom(cm.DeepCopy())
			cm.Labels[record.VerifierReportLabel] = "true"
			if err := c.Patch(ctx, cm, patch, client.FieldOwner(FieldOwner)); client.IgnoreNotFound(err) != nil {
				return n, fmt.Errorf("labelling ConfigMap %s/%s: %w", namespace, cm.Name, err)
			}
			n++
		}
	}
	return n, nil
}
