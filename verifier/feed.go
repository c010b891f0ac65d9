package verifier

import (
	"context"
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
)

// feed is an informer over the labelled Secrets of one namespace that
// knows when it last held everything the API server had (catchup.go). The
// record Watch and the SigningWatch are each one, so that both are held to
// the same staleness rule.
type feed struct {
	informer cache.SharedIndexInformer
	client   kubernetes.Interface
	ns       string
	selector string
	// name says which watch a log line is about.
	name  string
	log   logr.Logger
	clock clock.PassiveClock
	// lastContact is the Unix nanoseconds of the last moment the watch is
	// known to have held everything the API server had.
	lastContact atomic.Int64
	streams     restartable
	// behind is what a heartbeat saw that the watch had not delivered yet;
	// only the heartbeat goroutine touches it.
	behind behind
}

// WatchOptions tune a Watch or a SigningWatch.
type WatchOptions struct {
	Log   logr.Logger
	Clock clock.PassiveClock
}

// init prepares the informer of the Secrets labelled selector in ns; its
// owner adds the transform and the event handlers.
func (f *feed) init(client kubernetes.Interface, ns, selector, name string, o WatchOptions) {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	f.client, f.ns, f.selector, f.name, f.log, f.clock = client, ns, selector, name, o.Log, o.Clock
	secrets := client.CoreV1().Secrets(ns)
	// Its own list-watch rather than an informer factory's, so that a
	// stalled watch can be ended (catchup.go).
	f.informer = cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			lo.LabelSelector = selector
			return secrets.List(ctx, lo)
		},
		WatchFuncWithContext: func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
			lo.LabelSelector = selector
			return f.streams.track(secrets.Watch(ctx, lo))
		},
	}, client), &corev1.Secret{}, 0, cache.Indexers{})
}

// run watches until ctx ends, with a heartbeat every interval that checks
// the watch is current; loaded is called once the first list is in.
func (f *feed) run(ctx context.Context, heartbeat time.Duration, loaded func()) {
	if heartbeat <= 0 {
		heartbeat = 10 * time.Second
	}
	go f.informer.RunWithContext(ctx)
	if cache.WaitForCacheSync(ctx.Done(), f.informer.HasSynced) {
		f.touch()
		loaded()
	}
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.heartbeat(ctx)
		}
	}
}

// Ready reports whether the first list is loaded.
func (f *feed) Ready() bool { return f.informer.HasSynced() }

// LastContact is the last moment the watch is known to have held
// everything the API server had: the staleness bound counts from it.
func (f *feed) LastContact() time.Time { return time.Unix(0, f.lastContact.Load()) }

func (f *feed) touch() { f.touchAt(f.clock.Now()) }

func (f *feed) touchAt(t time.Time) { f.lastContact.Store(t.UnixNano()) }
