package verifier

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/usage"
)

// QuotaUsage is one key's quota as this replica counts it.
type QuotaUsage struct {
	KeyID           string
	Used, Remaining int64
	// ResetAt is when the period ends and the credits refill.
	ResetAt time.Time
}

// UsageFieldOwner is the server-side apply field manager of usage reports.
const UsageFieldOwner = "keyward-verifier"

// DefaultUsageInterval is how often usage is reported.
const DefaultUsageInterval = 10 * time.Second

// UsageReporter publishes the quota usage this replica counts, for the
// manager to copy into each APIKey's status. It writes one ConfigMap per
// replica, so that replicas never contend for one object, and only when
// the usage changed, so that an idle verifier costs the API server
// nothing.
//
// A report holds at most usage.MaxKeys keys, the ones Snapshot lists first
// (the most recently used): a ConfigMap must stay well below the 1 MiB an
// object may hold.
type UsageReporter struct {
	Client    kubernetes.Interface
	Namespace string
	// Replica names this replica's ConfigMap; ReplicaName gives the usual
	// choice.
	Replica string
	// PodUID, when set, makes the replica's Pod own the ConfigMap, so that
	// it goes with the Pod instead of piling up over rollouts.
	PodUID types.UID
	// Snapshot lists the keys with a quota, most recently used first.
	Snapshot func() []QuotaUsage
	// Interval between reports; zero means DefaultUsageInterval.
	Interval time.Duration
	Clock    clock.WithTicker
	Log      logr.Logger

	last    []byte
	failing bool
}

// ReplicaName is $POD_NAME, else the hostname.
func ReplicaName() (string, error) {
	if name := os.Getenv("POD_NAME"); name != "" {
		return name, nil
	}
	return os.Hostname()
}

// PodUID is $POD_UID when $POD_NAME names this replica's Pod: an owner
// reference needs both to be the Pod's.
func PodUID() types.UID {
	if os.Getenv("POD_NAME") == "" {
		return ""
	}
	return types.UID(os.Getenv("POD_UID"))
}

// Run reports every Interval until ctx ends. A failed write is logged once
// per run of failures and tried again at the next interval: usage in
// status is informational and must never stop the verifier.
func (u *UsageReporter) Run(ctx context.Context) error {
	name, err := usage.Name(u.Replica)
	if err != nil {
		return err
	}
	if u.Clock == nil {
		u.Clock = clock.RealClock{}
	}
	everyInterval(ctx, u.Clock, u.Interval, func(ctx context.Context) { u.report(ctx, name) })
	return nil
}

func (u *UsageReporter) report(ctx context.Context, name string) {
	entries := bounded(u.Snapshot())
	content, err := usage.EncodeKeys(entries)
	if err != nil {
		u.fail(err)
		return
	}
	if u.last != nil && string(content) == string(u.last) {
		return
	}
	data, err := usage.Encode(usage.Report{ReportedAt: u.Clock.Now(), Keys: entries})
	if err != nil {
		u.fail(err)
		return
	}
	err = applyReport(ctx, u.Client, reportObject{
		Namespace: u.Namespace, Name: name, Replica: u.Replica, PodUID: u.PodUID,
		Labels: map[string]string{usage.Label: "true", record.VerifierReportLabel: "true"},
		Data:   map[string]string{usage.DataKey: string(data)},
	})
	if err != nil {
		if ctx.Err() == nil {
			u.fail(fmt.Errorf("writing ConfigMap %s/%s: %w", u.Namespace, name, err))
		}
		return
	}
	if u.failing {
		u.Log.Info("reporting quota usage again", "configMap", name)
	}
	u.last, u.failing = content, false
}

func (u *UsageReporter) fail(err error) {
	if !u.failing {
		u.Log.Error(err, "reporting quota usage failed; retrying every interval")
	}
	u.failing = true
}

// bounded keeps the first usage.MaxKeys keys of a snapshot. It drops
// repeats and malformed key IDs, which a correct snapshot does not have,
// because the manager refuses a whole report for one bad entry.
func bounded(snapshot []QuotaUsage) map[string]usage.Entry {
	entries := make(map[string]usage.Entry, min(len(snapshot), usage.MaxKeys))
	for _, q := range snapshot {
		if len(entries) == usage.MaxKeys {
			break
		}
		if _, seen := entries[q.KeyID]; seen || keys.ValidateID(q.KeyID) != nil || q.Used < 0 || q.Remaining < 0 || q.ResetAt.IsZero() {
			continue
		}
		entries[q.KeyID] = usage.Entry{Used: q.Used, Remaining: q.Remaining, ResetAt: q.ResetAt}
	}
	return entries
}

// reportObject is a replica's report ConfigMap.
type reportObject struct {
	Namespace, Name string
	// Replica and PodUID, when PodUID is set, make the replica's Pod own
	// the ConfigMap, so that it goes with the Pod instead of piling up
	// over rollouts.
	Replica string
	PodUID  types.UID
	Labels  map[string]string
	Data    map[string]string
}

// applyReport writes a report ConfigMap with server-side apply, as the
// verifier's field owner.
func applyReport(ctx context.Context, client kubernetes.Interface, o reportObject) error {
	apply := corev1ac.ConfigMap(o.Name, o.Namespace).WithLabels(o.Labels).WithData(o.Data)
	if o.PodUID != "" {
		apply.WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion("v1").WithKind("Pod").WithName(o.Replica).WithUID(o.PodUID))
	}
	_, err := client.CoreV1().ConfigMaps(o.Namespace).Apply(ctx, apply, metav1.ApplyOptions{FieldManager: UsageFieldOwner, Force: true})
	return err
}
