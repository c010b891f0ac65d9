package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	// Time zones of time-window conditions must resolve in a container
	// image without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/logging"
	"github.com/keyward-dev/keyward/internal/verifierflags"
	"github.com/keyward-dev/keyward/verifier"
)

type verifierOptions struct {
	// The flags the manager also renders into the verifier Deployment.
	verifierflags.Flags
	auditLog                          string
	hashConcurrency, hashQueue, cache int
	hashWait                          time.Duration
	freeFailures                      int
	backoffBase, backoffMax           time.Duration
	maxStaleness, heartbeat           time.Duration
	usageInterval                     time.Duration
	zap                               zap.Options
}

func runVerifier(args []string) error {
	o := verifierOptions{}
	fs := flag.NewFlagSet("verifier", flag.ContinueOnError)
	o.Bind(fs, envOr("POD_NAMESPACE", defaultVerifierNamespace))
	fs.StringVar(&o.auditLog, "audit-log", "stdout", `where denials and first uses are logged: "stdout" or a file path`)
	fs.IntVar(&o.hashConcurrency, "hash-concurrency", 0, "PBKDF2 comparisons at once (0: half the CPUs, at least 1)")
	fs.IntVar(&o.hashQueue, "hash-queue", 64, "verifications that may wait for a hashing slot; more are answered Indeterminate")
	fs.DurationVar(&o.hashWait, "hash-wait", time.Second, "longest wait for a hashing slot")
	fs.IntVar(&o.cache, "cache-size", 100_000, "most keys kept in the verified-key cache")
	fs.IntVar(&o.freeFailures, "free-failures", 3, "failed verifications per key ID or client before backoff starts")
	fs.DurationVar(&o.backoffBase, "backoff-base", time.Second, "first backoff delay; it doubles with every further failure")
	fs.DurationVar(&o.backoffMax, "backoff-max", 5*time.Minute, "longest backoff delay")
	fs.DurationVar(&o.maxStaleness, "max-staleness", 5*time.Minute, "stop permitting when the API server has not been heard for this long (0: never stop)")
	fs.DurationVar(&o.heartbeat, "heartbeat", 10*time.Second, "how often to check that the API server can be heard")
	fs.DurationVar(&o.usageInterval, "usage-report-interval", verifier.DefaultUsageInterval, "how often to report quota usage for the APIKeys' status.quota, when it changed (0: never)")
	o.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Capped for the same reason as the manager's: nothing at any level may
	// print request or response bodies.
	logger := logging.Cap(zap.New(zap.UseFlagOptions(&o.zap))).WithName("verifier")
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)
	if err := checkVerifierConfig(o.ConfigPath); err != nil {
		return err
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return serveVerifier(ctx, o, restCfg, logger)
}

// checkVerifierConfig fails before anything connects, so that a typo in
// the configuration is reported as itself.
func checkVerifierConfig(path string) error {
	conf, err := verifier.LoadConfig(path)
	if err != nil {
		return err
	}
	if err := conf.Validate(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// serveVerifier runs the verifier until ctx ends.
func serveVerifier(ctx context.Context, o verifierOptions, restCfg *rest.Config, logger logr.Logger) error {
	conf, err := verifier.LoadConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	classes, err := conf.Classes()
	if err != nil {
		return err
	}
	sink, closer, err := audit.Open(o.auditLog)
	if err != nil {
		return err
	}
	defer closer.Close()
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	index := verifier.NewIndex()
	watch := verifier.NewWatch(client, o.Namespace, index, verifier.WatchOptions{Log: logger})
	signing := verifier.NewSigningKeys()
	tokens, err := verifier.NewTokens(signing, conf.OAuth, nil)
	if err != nil {
		return err
	}
	authorities, err := verifier.LoadAuthorities(conf.ClientCertificates.Authorities)
	if err != nil {
		return err
	}
	ready := watch.Ready
	var signingWatch *verifier.SigningWatch
	if tokens != nil {
		signingWatch = verifier.NewSigningWatch(client, o.Namespace, signing, logger)
		ready = func() bool { return watch.Ready() && signingWatch.Ready() }
	}
	v, err := verifier.New(index, verifier.Options{
		Classes: classes, Metrics: verifier.NewMetrics(reg), Audit: verifier.AccessLog{W: sink}, Log: logger,
		HashConcurrency: o.hashConcurrency, HashQueue: o.hashQueue, HashWait: o.hashWait, CacheSize: o.cache,
		FreeFailures: o.freeFailures, BackoffBase: o.backoffBase, BackoffMax: o.backoffMax,
		Ready: ready, LastContact: watch.LastContact, MaxStaleness: o.maxStaleness, Tokens: tokens,
		RateLimits: conf.RateLimits, Authorities: authorities,
	})
	if err != nil {
		return err
	}
	defer v.Close()
	doors, err := verifier.NewHandlers(v, conf)
	if err != nil {
		return err
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { watch.Run(ctx, o.heartbeat); return nil })
	g.Go(func() error { authorities.Run(ctx, verifier.AuthoritiesReloadInterval, logger); return nil })
	if signingWatch != nil {
		g.Go(func() error { signingWatch.Run(ctx); return nil })
	}
	if o.usageInterval > 0 {
		// Usage in status is informational: without it the verifier
		// still enforces every quota, so nothing here stops it.
		g.Go(func() error {
			replica, err := verifier.ReplicaName()
			if err == nil {
				err = (&verifier.UsageReporter{
					Client: client, Namespace: o.Namespace, Replica: replica, PodUID: verifier.PodUID(),
					Snapshot: v.QuotaUsage, Interval: o.usageInterval, Log: logger,
				}).Run(ctx)
			}
			if err != nil {
				logger.Error(err, "quota usage is not reported")
			}
			return nil
		})
	}
	// The request ports: decisions for trusted proxies, public for OAuth
	// clients. Each serves only its own paths.
	requestServers := []*http.Server{newServer(o.BindAddr, doors.Decisions)}
	if o.PublicAddr != "0" {
		requestServers = append(requestServers, newServer(o.PublicAddr, doors.Public))
	}
	servers := append(slices.Clone(requestServers), newServer(o.ProbeAddr, v.HealthHandler()))
	if o.MetricsAddr != "0" {
		servers = append(servers, newServer(o.MetricsAddr, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	}
	for _, s := range servers {
		g.Go(func() error {
			// A verifier sharing its ports takes connections the moment it
			// listens, from a sibling that has the records loaded.
			if slices.Contains(requestServers, s) && o.ReusePort && !cache.WaitForCacheSync(ctx.Done(), watch.Ready) {
				return nil
			}
			l, err := listen(ctx, s.Addr, o.ReusePort)
			if err != nil {
				return fmt.Errorf("serving %s: %w", s.Addr, err)
			}
			if err := s.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serving %s: %w", s.Addr, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(shutdown)
		}
		return nil
	})
	logger.Info("starting verifier", "namespace", o.Namespace, "decisionAddress", o.BindAddr, "publicAddress", o.PublicAddr, "maxStaleness", o.maxStaleness)
	return g.Wait()
}

// newServer bounds every phase of a request, so slow clients cannot hold
// connections open.
func newServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr: addr, Handler: h,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
	}
}
