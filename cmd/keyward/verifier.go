package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
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
	"github.com/keyward-dev/keyward/internal/geoip"
	"github.com/keyward-dev/keyward/internal/logging"
	"github.com/keyward-dev/keyward/internal/servingtls"
	"github.com/keyward-dev/keyward/internal/verifierflags"
	"github.com/keyward-dev/keyward/verifier"
)

type verifierOptions struct {
	// The flags the manager also renders into the verifier Deployment.
	verifierflags.Flags
	auditLog                          string
	auditDenialInterval               time.Duration
	auditDenialGroups                 int
	hashConcurrency, hashQueue, cache int
	hashWait                          time.Duration
	freeFailures                      int
	backoffBase, backoffMax           time.Duration
	maxStaleness, heartbeat           time.Duration
	usageInterval                     time.Duration
	tlsReloadInterval                 time.Duration
	zap                               zap.Options
}

func runVerifier(args []string) error {
	o := verifierOptions{}
	fs := flag.NewFlagSet("verifier", flag.ContinueOnError)
	o.Bind(fs, envOr("POD_NAMESPACE", defaultVerifierNamespace))
	fs.StringVar(&o.auditLog, "audit-log", "stdout", `where denials and first uses are logged: "stdout" or a file path`)
	fs.DurationVar(&o.auditDenialInterval, "audit-denial-interval", verifier.DefaultDenialInterval, "denials of one reason from one source network are counted over this interval: the first is logged in full, the count at its end (0: a line per denial, which a flood turns into a full disk)")
	fs.IntVar(&o.auditDenialGroups, "audit-denial-groups", verifier.DefaultMaxDenialGroups, "most (reason, source network) groups counted in one interval; denials beyond them are counted on one line together")
	fs.IntVar(&o.hashConcurrency, "hash-concurrency", 0, "PBKDF2 comparisons at once (0: half the CPUs, at least 1)")
	fs.IntVar(&o.hashQueue, "hash-queue", 64, "verifications that may wait for a hashing slot; more are answered Indeterminate")
	fs.DurationVar(&o.hashWait, "hash-wait", time.Second, "longest wait for a hashing slot")
	fs.IntVar(&o.cache, "cache-size", 100_000, "most keys kept in the verified-key cache")
	fs.IntVar(&o.freeFailures, "free-failures", 3, "failed verifications per key ID or client before backoff starts")
	fs.DurationVar(&o.backoffBase, "backoff-base", time.Second, "first backoff delay; it doubles with every further failure")
	fs.DurationVar(&o.backoffMax, "backoff-max", 5*time.Minute, "longest backoff delay")
	fs.DurationVar(&o.maxStaleness, "max-staleness", 5*time.Minute, "stop permitting when the key records have not been known current for this long, and stop accepting and issuing tokens when the signing keys have not: the API server cannot be heard, or the record or signing-key watch is stalled (0: never stop)")
	fs.DurationVar(&o.heartbeat, "heartbeat", 10*time.Second, "how often to check that the key records and signing keys are current: the API server is asked for their changes since the last one each watch delivered")
	fs.DurationVar(&o.usageInterval, "usage-report-interval", verifier.DefaultUsageInterval, "how often to report quota usage for the APIKeys' status.quota, when it changed (0: never)")
	fs.DurationVar(&o.tlsReloadInterval, "tls-reload-interval", servingtls.DefaultReloadInterval, "how often the TLS files are read again; a renewed certificate or CA bundle is in use this long after it is written at most")
	o.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkStaleness(o.maxStaleness, o.heartbeat); err != nil {
		return err
	}
	if err := checkAuditDenials(o.auditDenialInterval, o.auditDenialGroups); err != nil {
		return err
	}
	// Capped for the same reason as the manager's: nothing at any level may
	// print request or response bodies.
	logger := logging.Cap(zap.New(zap.UseFlagOptions(&o.zap))).WithName("verifier")
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)
	conf, err := checkVerifierConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	if _, err := loadRequestTLS(o.Flags); err != nil {
		return err
	}
	fipsSettings, err := verifierFIPSSettings(o.Flags, conf)
	if err != nil {
		return err
	}
	if err := refuseInFIPSMode(fipsSettings); err != nil {
		return err
	}
	restCfg, err := apiConfig()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return serveVerifier(ctx, o, restCfg, logger)
}

// checkVerifierConfig fails before anything connects, so that a typo in
// the configuration is reported as itself.
func checkVerifierConfig(path string) (verifier.Config, error) {
	conf, err := verifier.LoadConfig(path)
	if err != nil {
		return verifier.Config{}, err
	}
	if err := conf.Validate(); err != nil {
		return verifier.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return conf, nil
}

// requestTLS is the TLS of the request ports: nil without TLS. public is
// decision itself unless the public port asks for client certificates
// differently; the certificate and key are the same files either way.
type requestTLS struct {
	decision, public *servingtls.Source
}

// sources are the distinct Sources, each to be reloaded once.
func (r *requestTLS) sources() []*servingtls.Source {
	if r.public == r.decision {
		return []*servingtls.Source{r.decision}
	}
	return []*servingtls.Source{r.decision, r.public}
}

// loadRequestTLS reads the request ports' TLS files; nil without TLS.
func loadRequestTLS(f verifierflags.Flags) (*requestTLS, error) {
	files := f.TLS.Files()
	if err := files.Check(); err != nil {
		return nil, fmt.Errorf("TLS of the request ports: %w", err)
	}
	publicFiles, err := f.TLS.PublicFiles()
	if err == nil {
		err = publicFiles.Check()
	}
	if err == nil && f.TLS.SeparatePublic() && f.PublicAddr == "0" {
		err = fmt.Errorf("the public port is disabled (--%s=0)", verifierflags.PublicFlag)
	}
	if err != nil {
		return nil, fmt.Errorf("TLS of the public port (--%s=%q, --%s=%q): %w",
			verifierflags.PublicTLSClientAuthFlag, f.TLS.PublicClientAuth, verifierflags.PublicTLSClientCAFlag, f.TLS.PublicClientCAFile, err)
	}
	if !files.Enabled() {
		return nil, nil
	}
	decision, err := servingtls.Load(files)
	if err != nil {
		return nil, fmt.Errorf("TLS of the request ports: %w", err)
	}
	if !f.TLS.SeparatePublic() {
		return &requestTLS{decision: decision, public: decision}, nil
	}
	public, err := servingtls.Load(publicFiles)
	if err != nil {
		return nil, fmt.Errorf("TLS of the public port (--%s): %w", verifierflags.PublicTLSClientCAFlag, err)
	}
	return &requestTLS{decision: decision, public: public}, nil
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
	reqTLS, err := loadRequestTLS(o.Flags)
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
	var signingContact func() time.Time
	if tokens != nil {
		signingWatch = verifier.NewSigningWatch(client, o.Namespace, signing, verifier.WatchOptions{Log: logger})
		ready = func() bool { return watch.Ready() && signingWatch.Ready() }
		signingContact = signingWatch.LastContact
	}
	leaks, err := verifier.NewLeakReports(conf.LeakReports, verifier.LeakReportsOptions{
		Sink: verifier.LeakWriter{Client: client, Namespace: o.Namespace}, Log: logger,
	})
	if err != nil {
		return err
	}
	geo, err := verifier.LoadGeoIP(conf.GeoIP)
	if err != nil {
		return err
	}
	v, err := verifier.New(index, verifier.Options{
		Classes: classes, Metrics: verifier.NewMetrics(reg), Audit: accessLog(sink, o), Log: logger,
		HashConcurrency: o.hashConcurrency, HashQueue: o.hashQueue, HashWait: o.hashWait, CacheSize: o.cache,
		FreeFailures: o.freeFailures, BackoffBase: o.backoffBase, BackoffMax: o.backoffMax,
		Ready: ready, LastContact: watch.LastContact, SigningLastContact: signingContact, MaxStaleness: o.maxStaleness, Tokens: tokens,
		RateLimits: conf.RateLimits, Authorities: authorities, LeakReports: leaks,
		Analytics: conf.Analytics, GeoIP: geo,
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
		g.Go(func() error { signingWatch.Run(ctx, o.heartbeat); return nil })
	}
	if leaks != nil {
		g.Go(func() error { leaks.Run(ctx); return nil })
	}
	if geo != nil {
		g.Go(func() error { geo.Run(ctx, geoip.DefaultReloadInterval, logger); return nil })
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
		// Activity, like quota usage, is informational: the verifier
		// enforces without it.
		switch v.ActivityAggregation() {
		case verifier.AggregationRedis:
			g.Go(func() error {
				replica, err := verifier.ReplicaName()
				if err == nil {
					err = v.RunActivityFlush(ctx, replica, o.usageInterval, nil, logger)
				}
				if err != nil {
					logger.Error(err, "activity is not written to Redis")
				}
				return nil
			})
		case verifier.AggregationEmbedded:
			g.Go(func() error {
				replica, err := verifier.ReplicaName()
				if err == nil {
					err = (&verifier.ActivityReporter{
						Client: client, Namespace: o.Namespace, Replica: replica, PodUID: verifier.PodUID(),
						Verifier: v, Interval: o.usageInterval, Log: logger,
					}).Run(ctx)
				}
				if err != nil {
					logger.Error(err, "activity is not reported")
				}
				return nil
			})
		}
	}
	// The request ports: decisions for trusted proxies, public for OAuth
	// clients. Each serves only its own paths, over TLS when configured;
	// the probe and metrics ports stay plain for the kubelet and
	// Prometheus.
	decisions := newServer(o.BindAddr, doors.Decisions)
	requestServers := []*http.Server{decisions}
	var public *http.Server
	if o.PublicAddr != "0" {
		public = newServer(o.PublicAddr, doors.Public)
		requestServers = append(requestServers, public)
	}
	if reqTLS != nil {
		decisions.TLSConfig = reqTLS.decision.ServerConfig()
		if public != nil {
			public.TLSConfig = reqTLS.public.ServerConfig()
		}
		for _, s := range requestServers {
			s.ErrorLog = httpErrorLog(logger)
		}
		for _, src := range reqTLS.sources() {
			g.Go(func() error { src.Run(ctx, o.tlsReloadInterval, logger); return nil })
		}
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
			serve := s.Serve
			if s.TLSConfig != nil {
				// The certificate comes from TLSConfig, not from files.
				serve = func(l net.Listener) error { return s.ServeTLS(l, "", "") }
			}
			if err := serve(l); !errors.Is(err, http.ErrServerClosed) {
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
	logger.Info("starting verifier", "namespace", o.Namespace, "decisionAddress", o.BindAddr, "publicAddress", o.PublicAddr,
		"tls", reqTLS != nil, "clientAuth", o.TLS.Files().ClientAuth, "publicClientAuth", publicClientAuth(o.TLS), "maxStaleness", o.maxStaleness)
	return g.Wait()
}

// publicClientAuth is the public port's client certificate mode, for the
// start-up log.
func publicClientAuth(t verifierflags.TLS) servingtls.ClientAuth {
	files, err := t.PublicFiles()
	if err != nil {
		return ""
	}
	return files.ClientAuth
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

// checkStaleness refuses a staleness bound the heartbeat cannot keep: while
// the records or signing keys keep changing, they are known current up to
// two heartbeats and a probe late (verifier/catchup.go), and a shorter
// bound would make a healthy verifier stale.
func checkStaleness(maxStaleness, heartbeat time.Duration) error {
	if heartbeat <= 0 {
		return fmt.Errorf("--heartbeat=%v: must be positive", heartbeat)
	}
	if least := 2*heartbeat + verifier.HeartbeatProbeWindow; maxStaleness != 0 && maxStaleness <= least {
		return fmt.Errorf("--max-staleness=%v: must exceed twice --heartbeat (%v) and a second, %v, or be 0 to never stop permitting", maxStaleness, heartbeat, least)
	}
	return nil
}

// checkAuditDenials refuses a counting of denials that would count nothing.
func checkAuditDenials(interval time.Duration, groups int) error {
	if interval < 0 {
		return fmt.Errorf("--audit-denial-interval=%v: must be positive, or 0 for a line per denial", interval)
	}
	if groups < 1 {
		return fmt.Errorf("--audit-denial-groups=%d: must be at least 1", groups)
	}
	return nil
}

// accessLog is the verifier's trail as the flags configure it: 0 there
// means no counting, as the interval's default is not zero.
func accessLog(sink *audit.Writer, o verifierOptions) verifier.AccessLog {
	c := verifier.AccessLog{W: sink, Interval: o.auditDenialInterval, MaxGroups: o.auditDenialGroups}
	if c.Interval == 0 {
		c.Interval = -1
	}
	return c
}
