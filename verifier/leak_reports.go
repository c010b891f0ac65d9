package verifier

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/keyward-dev/keyward/internal/leak"
)

// GitHubLeaksPath receives GitHub secret scanning's partner reports on the
// public port.
const GitHubLeaksPath = "/leaks/github"

// LeakSink takes a verified leak to whoever can act on it: the manager,
// through a ConfigMap (LeakWriter). It must be idempotent: the same leak
// reported twice changes nothing the second time.
type LeakSink interface {
	Leaked(ctx context.Context, r leak.Report) error
}

// LeakReports receives leaked-key reports. Nil (the default) serves none.
type LeakReports struct {
	sink   LeakSink
	clock  clock.PassiveClock
	github *githubLeaks
}

type githubLeaks struct {
	settings githubLeakSettings
	keys     *reporterKeys
	// bodies holds a slot per report body being read.
	bodies chan struct{}
}

// maxBodiesInFlight bounds the memory report bodies take: at most this
// many times maxBodyBytes, whoever sends them.
const maxBodiesInFlight = 4

// LeakReportsOptions are what a LeakReports needs besides its
// configuration.
type LeakReportsOptions struct {
	Sink LeakSink
	// HTTPClient reads the reporter's public keys (default: a client with
	// the system's roots).
	HTTPClient *http.Client
	Clock      clock.PassiveClock
	Log        logr.Logger
}

// NewLeakReports checks the configuration; nil, nil when it turns nothing
// on.
func NewLeakReports(c LeakReportsConfig, o LeakReportsOptions) (*LeakReports, error) {
	if c.GitHub == nil {
		return nil, nil
	}
	s, err := c.GitHub.compile()
	if err != nil {
		return nil, err
	}
	if o.Sink == nil {
		return nil, errLeakSinkMissing
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	client := *o.HTTPClient
	client.CheckRedirect = httpsOnly(client.CheckRedirect)
	return &LeakReports{sink: o.Sink, clock: o.Clock, github: &githubLeaks{settings: s, bodies: make(chan struct{}, maxBodiesInFlight), keys: &reporterKeys{
		url: s.url, file: s.file, client: &client, clock: o.Clock, minRefresh: s.minRefresh,
		log: o.Log.WithName("leak-reports"),
	}}}, nil
}

// Run keeps the reporters' public keys fresh until ctx ends.
func (l *LeakReports) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if l.github != nil {
		wg.Go(func() { l.github.keys.Run(ctx, l.github.settings.refresh) })
	}
	wg.Wait()
}

func (h *handler) registerLeaks(mux *http.ServeMux) {
	if l := h.v.leaks; l != nil && l.github != nil {
		mux.HandleFunc("POST "+GitHubLeaksPath, h.githubLeaks)
	}
}
