// Package harness runs keyward's verifier in the test process, as
// `keyward verifier` runs it, for the suites that test it against a real
// API server.
package harness

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/keyward-dev/keyward/internal/apiretry"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/servingtls"
	"github.com/keyward-dev/keyward/verifier"
)

// VerifierOptions are what the suites' verifiers differ in.
type VerifierOptions struct {
	// Namespace holds the records and signing keys the verifier watches.
	Namespace string
	// User is impersonated by the verifier's client, so that the verifier
	// reads with exactly the Role the manager gives that user.
	User string
	// Config is the verifier's configuration. Without an OAuth issuer the
	// public listener's URL is the issuer, as RFC 8414 wants it; replicas
	// of one deployment share the URL of the Service in front of them.
	Config verifier.Config
	// Audit receives the verifier's access log.
	Audit io.Writer
	// UsageReplica, when set, runs a usage reporter under that replica
	// name every UsageInterval, so that quota usage reaches the APIKeys'
	// status within a test's patience.
	UsageReplica  string
	UsageInterval time.Duration
	// LeakKeysClient reads the leak reporter's public keys, when
	// Config.LeakReports turns reports on (default: the system's roots).
	LeakKeysClient *http.Client
	// TLS, when set, is what both listeners serve TLS with, as
	// `keyward verifier --tls-*` does; the URLs are then https.
	TLS *servingtls.Source
	// MaxStaleness is the verifier's --max-staleness (default a minute).
	MaxStaleness time.Duration
	// ActivityReplica, when set, reports the verifier's usage activity
	// under that replica name every UsageInterval, as `keyward verifier`
	// does: its activity ConfigMap (analytics.aggregation embedded) or
	// its counts written into Redis (redis).
	ActivityReplica string
	// Clock, when set, is the verifier's clock and its reporters': a test
	// that steps time through minutes. The verifier then does not judge
	// its own staleness, since the watches' last contact is in real time,
	// which a stepped clock does not follow.
	Clock clock.WithTicker
}

// Verifier is a running verifier and its two listeners.
type Verifier struct {
	*verifier.Verifier
	// Index holds the records the watch has read: a test waits there for
	// a key to reach the verifier without sending it traffic.
	Index   *verifier.Index
	Watch   *verifier.Watch
	Signing *verifier.SigningWatch
	// URL serves decisions and forward-auth, PublicURL the OAuth endpoints
	// (token, JWKS, metadata).
	URL, PublicURL string
	// Stop stops it before its context is done, as a replica that goes
	// away; it may be called more than once.
	Stop func()
}

// StartVerifier starts a verifier that runs until ctx is done.
func StartVerifier(ctx context.Context, cfg *rest.Config, o VerifierOptions) (*Verifier, error) {
	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: o.User}
	// As `keyward verifier` reaches the API server.
	as.Wrap(apiretry.Wrap)
	cs, err := kubernetes.NewForConfig(as)
	if err != nil {
		return nil, err
	}
	// Two listeners, as `keyward verifier` opens them.
	srv, pub := httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)
	conf := o.Config
	scheme := "http://"
	if o.TLS != nil {
		scheme = "https://"
	}
	if conf.OAuth.Issuer == "" {
		conf.OAuth.Issuer = scheme + pub.Listener.Addr().String()
	}
	classes, err := conf.Classes()
	if err != nil {
		return nil, err
	}
	authorities, err := verifier.LoadAuthorities(conf.ClientCertificates.Authorities)
	if err != nil {
		return nil, err
	}
	index := verifier.NewIndex()
	watch := verifier.NewWatch(cs, o.Namespace, index, verifier.WatchOptions{})
	keys := verifier.NewSigningKeys()
	tokens, err := verifier.NewTokens(keys, conf.OAuth, nil)
	if err != nil {
		return nil, err
	}
	signing := verifier.NewSigningWatch(cs, o.Namespace, keys, verifier.WatchOptions{})
	leaks, err := verifier.NewLeakReports(conf.LeakReports, verifier.LeakReportsOptions{
		Sink: verifier.LeakWriter{Client: cs, Namespace: o.Namespace}, HTTPClient: o.LeakKeysClient,
	})
	if err != nil {
		return nil, err
	}
	geo, err := verifier.LoadGeoIP(conf.GeoIP)
	if err != nil {
		return nil, err
	}
	maxStaleness := o.MaxStaleness
	switch {
	case o.Clock != nil:
		maxStaleness = 0
	case maxStaleness == 0:
		maxStaleness = time.Minute
	}
	v, err := verifier.New(index, verifier.Options{
		Classes: classes, Audit: verifier.AccessLog{W: audit.NewWriter(o.Audit)}, Clock: o.Clock,
		Ready:       func() bool { return watch.Ready() && signing.Ready() },
		LastContact: watch.LastContact, SigningLastContact: signing.LastContact, MaxStaleness: maxStaleness, Tokens: tokens,
		RateLimits: conf.RateLimits, Authorities: authorities, LeakReports: leaks,
		Analytics: conf.Analytics, GeoIP: geo,
	})
	if err != nil {
		return nil, err
	}
	doors, err := verifier.NewHandlers(v, conf)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	go watch.Run(ctx, time.Second)
	go signing.Run(ctx, time.Second)
	if leaks != nil {
		go leaks.Run(ctx)
	}
	if o.UsageReplica != "" {
		reporter := &verifier.UsageReporter{Client: cs, Namespace: o.Namespace, Replica: o.UsageReplica, Snapshot: v.QuotaUsage, Interval: o.UsageInterval, Clock: o.Clock}
		go func() { _ = reporter.Run(ctx) }()
	}
	if o.ActivityReplica != "" {
		startActivity(ctx, cs, v, o)
	}
	srv.Config.Handler, pub.Config.Handler = doors.Decisions, doors.Public
	if o.TLS != nil {
		// httptest adds its own certificate to TLS.Certificates; every
		// handshake takes the Source's (GetConfigForClient) instead.
		srv.TLS, pub.TLS = o.TLS.ServerConfig(), o.TLS.ServerConfig()
		srv.StartTLS()
		pub.StartTLS()
	} else {
		srv.Start()
		pub.Start()
	}
	closeServers := sync.OnceFunc(func() { srv.Close(); pub.Close() })
	go func() { <-ctx.Done(); closeServers() }()
	stop := sync.OnceFunc(func() { closeServers(); cancel(); _ = v.Close() })
	return &Verifier{Verifier: v, Index: index, Watch: watch, Signing: signing, URL: srv.URL, PublicURL: pub.URL, Stop: stop}, nil
}

// startActivity reports the verifier's activity the way its configured
// aggregation says, as `keyward verifier` does.
func startActivity(ctx context.Context, cs kubernetes.Interface, v *verifier.Verifier, o VerifierOptions) {
	switch v.ActivityAggregation() {
	case verifier.AggregationRedis:
		go func() { _ = v.RunActivityFlush(ctx, o.ActivityReplica, o.UsageInterval, o.Clock, logr.Discard()) }()
	case verifier.AggregationEmbedded:
		reporter := &verifier.ActivityReporter{Client: cs, Namespace: o.Namespace, Replica: o.ActivityReplica, Verifier: v, Interval: o.UsageInterval, Clock: o.Clock}
		go func() { _ = reporter.Run(ctx) }()
	}
}
