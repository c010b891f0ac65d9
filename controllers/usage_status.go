package controllers

import (
	"context"
	"fmt"
	"math/bits"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
)

// Bounds of status.usage's lists (the CRD's MaxItems).
const (
	usageTopPlaces  = 5
	usageTopDenials = 3
)

// usageStatus is what status.usage shows of a summary. A window without
// requests is left out rather than shown as zeros: either reads the same,
// and the status stays short.
func usageStatus(s analytics.Summary) *keywardv1.UsageStatus {
	u := &keywardv1.UsageStatus{
		LastHour: usageWindow(s.Hour, 0),
		LastDay:  usageWindow(s.Day, usageTopDenials),
	}
	if !s.LastUsed.IsZero() {
		u.LastUsedTime = &metav1.Time{Time: s.LastUsed.UTC()}
	}
	for _, c := range s.TopCountries[:min(len(s.TopCountries), usageTopPlaces)] {
		u.TopCountries = append(u.TopCountries, keywardv1.CountryCount{Country: c.Value, Requests: int64(c.N)})
	}
	for _, n := range s.TopNetworks[:min(len(s.TopNetworks), usageTopPlaces)] {
		u.TopNetworks = append(u.TopNetworks, keywardv1.NetworkCount{Network: n.Value, Requests: int64(n.N)})
	}
	return u
}

func usageWindow(w analytics.Window, topDenials int) *keywardv1.UsageWindow {
	if w.Requests == 0 {
		return nil
	}
	uw := &keywardv1.UsageWindow{
		Requests:  int64(w.Requests),
		Denials:   int64(w.Denials),
		ErrorRate: ErrorRate(w.Denials, w.Requests),
	}
	for _, d := range w.TopDenials[:min(len(w.TopDenials), topDenials)] {
		uw.TopDenials = append(uw.TopDenials, keywardv1.DenialCount{Reason: d.Value, Count: int64(d.N)})
	}
	return uw
}

// ErrorRate is denials ÷ requests as status.usage shows it: a percentage
// with one decimal, rounded down, so that "0.0%" means fewer than one in a
// thousand and "100.0%" only all. Integer arithmetic: the API holds no
// floats, and the same counts always print the same.
func ErrorRate(denials, requests uint64) string {
	if requests == 0 {
		return ""
	}
	// 128-bit: counts of a long-lived busy key times 1000 overflow 64.
	hi, lo := bits.Mul64(min(denials, requests), 1000)
	permille, _ := bits.Div64(hi, lo, requests)
	return fmt.Sprintf("%d.%d%%", permille/10, permille%10)
}

// usageShown: the (cached) key's status.usage already is u.
func usageShown(key *keywardv1.APIKey, u *keywardv1.UsageStatus) bool {
	return equality.Semantic.DeepEqual(key.Status.Usage, u)
}

// applyUsage writes status.usage with server-side apply as UsageFieldOwner,
// unless the cached key already shows it. The applied object holds only
// the key's identity and status.usage, so the aggregator owns that field
// and nothing else; the UID makes the write fail rather than land on
// another APIKey created under the same name.
func applyUsage(ctx context.Context, c client.Client, key *keywardv1.APIKey, u *keywardv1.UsageStatus) error {
	if usageShown(key, u) {
		return nil
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(u)
	if err != nil {
		return err
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"usage": content}}}
	obj.SetAPIVersion(keywardv1.GroupVersion.String())
	obj.SetKind("APIKey")
	obj.SetNamespace(key.Namespace)
	obj.SetName(key.Name)
	obj.SetUID(key.UID)
	usageStatusWritesTotal.Inc()
	return c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner(UsageFieldOwner), client.ForceOwnership)
}
