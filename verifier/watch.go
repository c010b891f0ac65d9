package verifier

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// Watch feeds an Index from the record Secrets of one namespace. It needs
// only list and watch on Secrets in that namespace, and reads only
// Secrets that carry the record label. Its client should wait through an
// outage (apiretry.Wrap): otherwise the informer's backoff can keep it
// stale for up to a minute after the API server is back.
type Watch struct {
	feed
	index   *Index
	invalid atomic.Int64
}

// NewWatch prepares a Watch; Run starts it.
func NewWatch(client kubernetes.Interface, namespace string, index *Index, o WatchOptions) *Watch {
	w := &Watch{index: index}
	w.init(client, namespace, record.RecordLabel, "record watch", o)
	// Keep only what a record needs: the verifier holds every record in
	// memory, and annotations and managed fields would multiply that.
	_ = w.informer.SetTransform(func(obj any) (any, error) {
		s, ok := obj.(*corev1.Secret)
		if !ok {
			return obj, nil
		}
		keep := record.DataKey
		if s.Name == record.LookupKeySecretName {
			keep = record.LookupKeyDataKey
		}
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, ResourceVersion: s.ResourceVersion, UID: s.UID},
			Data:       map[string][]byte{keep: s.Data[keep]},
		}, nil
	})
	_, _ = w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.put(obj) },
		UpdateFunc: func(_, obj any) { w.put(obj) },
		DeleteFunc: w.remove,
	})
	return w
}

// Run watches until ctx ends, with a heartbeat every interval that checks
// the records are current (catchup.go).
func (w *Watch) Run(ctx context.Context, heartbeat time.Duration) {
	w.run(ctx, heartbeat, func() {
		w.log.Info("key records loaded", "namespace", w.ns, "records", w.index.Len())
	})
}

// Invalid is how many record Secrets failed to load.
func (w *Watch) Invalid() int64 { return w.invalid.Load() }

func (w *Watch) put(obj any) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	if s.Name == record.LookupKeySecretName {
		w.loadLookupKey(s)
		return
	}
	if err := w.index.Put(s.Name, s.Data[record.DataKey]); err != nil {
		w.invalid.Add(1)
		// The error names the Secret and the problem; records hold hashes,
		// never plaintext, and decoding errors do not quote the data.
		w.log.Error(err, "ignoring an invalid key record; its key is denied")
	}
}

func (w *Watch) remove(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if s, ok := obj.(*corev1.Secret); ok {
		if s.Name == record.LookupKeySecretName {
			w.index.SetLookupKey(nil)
			w.log.Info("the lookup key is gone; foreign keys are denied until it is back")
			return
		}
		w.index.Remove(s.Name)
	}
}

// loadLookupKey takes the manager's lookup key; one that is not a lookup
// key is dropped, so foreign keys are denied rather than looked up under
// something else. The key's bytes never reach a log.
func (w *Watch) loadLookupKey(s *corev1.Secret) {
	l, err := keys.NewLookupKey(s.Data[record.LookupKeyDataKey])
	w.index.SetLookupKey(l)
	if err != nil {
		w.invalid.Add(1)
		w.log.Error(err, "ignoring an invalid lookup key; foreign keys are denied", "secret", s.Name)
		return
	}
	w.log.Info("lookup key loaded", "secret", s.Name)
}

// String names the watch for logs.
func (w *Watch) String() string { return fmt.Sprintf("records in %s", w.ns) }
