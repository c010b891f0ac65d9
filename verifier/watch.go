package verifier

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// Watch feeds an Index from the record Secrets of one namespace. It needs
// only list and watch on Secrets in that namespace, and reads only
// Secrets that carry the record label. Its client should wait through an
// outage (apiretry.Wrap): otherwise the informer's backoff can keep it
// stale for up to a minute after the API server is back.
type Watch struct {
	informer cache.SharedIndexInformer
	client   kubernetes.Interface
	ns       string
	index    *Index
	log      logr.Logger
	clock    clock.PassiveClock
	// lastContact is the Unix nanoseconds of the last moment the watch is
	// known to have held everything the API server had (catchup.go).
	lastContact atomic.Int64
	invalid     atomic.Int64
	streams     restartable
	// behind is what a heartbeat saw that the watch had not delivered yet;
	// only the heartbeat goroutine touches it.
	behind behind
}

// WatchOptions tune a Watch.
type WatchOptions struct {
	Log   logr.Logger
	Clock clock.PassiveClock
}

// NewWatch prepares a Watch; Run starts it.
func NewWatch(client kubernetes.Interface, namespace string, index *Index, o WatchOptions) *Watch {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	w := &Watch{client: client, ns: namespace, index: index, log: o.Log, clock: o.Clock}
	secrets := client.CoreV1().Secrets(namespace)
	// Its own list-watch rather than an informer factory's, so that a
	// stalled watch can be ended (catchup.go).
	w.informer = cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			lo.LabelSelector = record.RecordLabel
			return secrets.List(ctx, lo)
		},
		WatchFuncWithContext: func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
			lo.LabelSelector = record.RecordLabel
			return w.streams.track(secrets.Watch(ctx, lo))
		},
	}, client), &corev1.Secret{}, 0, cache.Indexers{})
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
// the watch is current (catchup.go).
func (w *Watch) Run(ctx context.Context, heartbeat time.Duration) {
	if heartbeat <= 0 {
		heartbeat = 10 * time.Second
	}
	go w.informer.RunWithContext(ctx)
	if cache.WaitForCacheSync(ctx.Done(), w.informer.HasSynced) {
		w.touch()
		w.log.Info("key records loaded", "namespace", w.ns, "records", w.index.Len())
	}
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.heartbeat(ctx)
		}
	}
}

// Ready reports whether the first list of records is loaded.
func (w *Watch) Ready() bool { return w.informer.HasSynced() }

// LastContact is the last moment the records are known to have been
// current: the staleness bound counts from it.
func (w *Watch) LastContact() time.Time { return time.Unix(0, w.lastContact.Load()) }

// Invalid is how many record Secrets failed to load.
func (w *Watch) Invalid() int64 { return w.invalid.Load() }

func (w *Watch) touch() { w.touchAt(w.clock.Now()) }

func (w *Watch) touchAt(t time.Time) { w.lastContact.Store(t.UnixNano()) }

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
