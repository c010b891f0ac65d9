// Package benchmgr is what the envtest benchmarks of test/bench and its
// subpackages share: keyward's APIKey controller with `keyward manager`'s
// client settings, the APIKeys they measure, and the live heap.
package benchmgr

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/manager"
)

const (
	VerifierNamespace = "keyward-verifier"
	ManagerNamespace  = "keyward-system"
)

// Options of Start.
type Options struct {
	Hasher keys.Hasher
	// WrapTransport sees every request the manager sends; nil sees none.
	WrapTransport transport.WrapperFunc
}

// Start runs the APIKey controller alone until ctx ends (the others would
// only take CPU from what is measured) and returns a client of the API
// server and the manager's cache once it has synced. controller-runtime
// allows one controller of a name per process: Start once per test binary.
func Start(ctx context.Context, cfg *rest.Config, o Options) (client.Client, client.Reader, error) {
	scheme := manager.Scheme()
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, err
	}
	for _, ns := range []string{VerifierNamespace, ManagerNamespace} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, nil, err
		}
	}
	// The same client settings as `keyward manager`'s defaults.
	mgrCfg := rest.CopyConfig(cfg)
	mgrCfg.QPS, mgrCfg.Burst = 100, 200
	if o.WrapTransport != nil {
		mgrCfg.Wrap(o.WrapTransport)
	}
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   controllers.CacheOptions(VerifierNamespace),
	})
	if err != nil {
		return nil, nil, err
	}
	if _, err := manager.Setup(mgr, manager.Options{
		Parts:                   manager.APIKeys,
		VerifierNamespace:       VerifierNamespace,
		ManagerNamespace:        ManagerNamespace,
		Clock:                   clock.RealClock{},
		Hasher:                  o.Hasher,
		HashConcurrency:         controllers.DefaultHashConcurrency(),
		MaxConcurrentReconciles: 4,
		// `keyward manager`'s default: a revoked key's record becomes a
		// tombstone; with none, revocation would publish nothing.
		RevokedRecordRetention: 30 * 24 * time.Hour,
	}); err != nil {
		return nil, nil, err
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return nil, nil, errors.New("the manager's cache did not sync")
	}
	return k8s, mgr.GetCache(), nil
}

// CreateAPIKeys creates n APIKeys key-00000… in ns from ten clients at once.
func CreateAPIKeys(ctx context.Context, k8s client.Client, ns string, n int) error {
	const workers = 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				err := k8s.Create(ctx, &keywardv1.APIKey{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("key-%05d", i)},
					Spec: keywardv1.APIKeySpec{
						Owner:  fmt.Sprintf("user-%d", i%17),
						Scopes: []keywardv1.Scope{"acme/payments/investigations:read"},
					},
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// WaitAllReady waits until the n APIKeys of ns are Ready. It reads the
// manager's cache, not the API server: listing them over and over would
// take CPU from the operator being measured.
func WaitAllReady(ctx context.Context, cache client.Reader, ns string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	ready := 0
	for time.Now().Before(deadline) {
		list := &keywardv1.APIKeyList{}
		// Read-only: no deep copy of every object per poll.
		if err := cache.List(ctx, list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
		ready = 0
		for _, k := range list.Items {
			if meta.IsStatusConditionTrue(k.Status.Conditions, keywardv1.ReadyCondition) {
				ready++
			}
		}
		if ready == n {
			return nil
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
	return fmt.Errorf("%d of %d APIKeys in %s became Ready within %s", ready, n, ns, timeout)
}

// LiveHeap is the heap in use after a collection: what a benchmark's
// objects hold, without the garbage of making them.
func LiveHeap() int64 {
	runtime.GC()
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return int64(s.HeapAlloc)
}
