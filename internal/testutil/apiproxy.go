package testutil

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// APIProxy stands between a client and the API server, so that a test can
// take the API server away from that client alone (Cut) or stall its
// watches while its other requests go through (StallWatches,
// StallOpenWatches, StallWatchesOf), as a broken network or load balancer
// would. It
// forwards with the credentials of the config it was made from; the
// client's impersonation headers pass through.
type APIProxy struct {
	srv  *http.Server
	addr string

	mu sync.Mutex
	// listener is nil while cut; conns are the clients' connections.
	listener net.Listener
	conns    map[net.Conn]struct{}
	// changed is closed and replaced whenever the state below changes.
	changed chan struct{}
	cut     bool
	// epoch ends the requests in progress when the proxy is cut.
	epoch     context.Context
	endEpoch  context.CancelFunc
	stallAll  bool
	stallUpTo uint64 // watch streams numbered up to this one stall
	// stallSelector, when set, stalls the watch streams of that label
	// selector.
	stallSelector string
	watches       uint64 // watch streams opened so far
	forwarded     []Forwarded
}

// Forwarded is one request the proxy passed on and the API server answered.
type Forwarded struct {
	At    time.Time
	Watch bool
	Query url.Values
}

// NewAPIProxy starts a plain-HTTP proxy to the API server of cfg.
func NewAPIProxy(cfg *rest.Config) (*APIProxy, error) {
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &APIProxy{changed: make(chan struct{}), addr: l.Addr().String(), listener: l, conns: map[net.Conn]struct{}{}}
	p.epoch, p.endEpoch = context.WithCancel(context.Background())
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: transport,
		ErrorLog:  log.New(io.Discard, "", 0),
		ModifyResponse: func(resp *http.Response) error {
			p.record(resp.Request)
			if s, ok := resp.Request.Context().Value(watchStream{}).(stream); ok {
				resp.Body = &heldBody{ReadCloser: resp.Body, p: p, s: s, ctx: resp.Request.Context()}
			}
			return nil
		},
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, release, ok := p.admit(r)
			if !ok {
				panic(http.ErrAbortHandler)
			}
			defer release()
			rp.ServeHTTP(w, r.WithContext(ctx))
		}),
		ConnState: p.track,
	}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

func (p *APIProxy) track(c net.Conn, s http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case http.StateNew:
		p.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(p.conns, c)
	}
}

type watchStream struct{}

// stream is a watch stream: its number and label selector.
type stream struct {
	n        uint64
	selector string
}

// Config reaches the API server through the proxy: plain HTTP, without
// credentials of its own.
func (p *APIProxy) Config() *rest.Config { return &rest.Config{Host: "http://" + p.addr} }

// Close stops the proxy.
func (p *APIProxy) Close() {
	p.Cut()
	_ = p.srv.Close()
}

// Cut ends every request and connection in progress and refuses
// connections until Restore, as an API server that is down.
func (p *APIProxy) Cut() {
	p.update(func() {
		p.cut = true
		p.endEpoch()
		if p.listener != nil {
			_ = p.listener.Close()
			p.listener = nil
		}
		for c := range p.conns {
			_ = c.Close()
		}
	})
}

// StallWatches holds back every byte of every watch stream, open or new,
// until Restore; other requests go through.
func (p *APIProxy) StallWatches() { p.update(func() { p.stallAll = true }) }

// StallOpenWatches holds back every byte of the watch streams open now,
// for as long as they stay open; new streams and other requests go
// through.
func (p *APIProxy) StallOpenWatches() { p.update(func() { p.stallUpTo = p.watches }) }

// StallWatchesOf holds back every byte of every watch stream, open or new,
// of the label selector selector until Restore; other watches and
// requests go through.
func (p *APIProxy) StallWatchesOf(selector string) {
	p.update(func() { p.stallSelector = selector })
}

// Restore forwards everything again, on the same address.
func (p *APIProxy) Restore() error {
	var err error
	p.update(func() {
		if p.listener == nil {
			var l net.Listener
			if l, err = net.Listen("tcp", p.addr); err != nil {
				return
			}
			p.listener = l
			go func() { _ = p.srv.Serve(l) }()
			p.epoch, p.endEpoch = context.WithCancel(context.Background())
		}
		p.cut, p.stallAll, p.stallUpTo, p.stallSelector = false, false, 0, ""
	})
	return err
}

// Forwarded lists the requests the API server answered through the proxy.
func (p *APIProxy) Forwarded() []Forwarded {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Forwarded(nil), p.forwarded...)
}

func (p *APIProxy) update(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
}

// admit lets r through unless the proxy is cut; the request ends when the
// proxy is cut later, and release forgets it.
func (p *APIProxy) admit(r *http.Request) (context.Context, func(), bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return nil, nil, false
	}
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(p.epoch, cancel)
	if q := r.URL.Query().Get("watch"); q == "true" || q == "1" {
		p.watches++
		ctx = context.WithValue(ctx, watchStream{}, stream{n: p.watches, selector: r.URL.Query().Get("labelSelector")})
	}
	return ctx, func() { stop(); cancel() }, true
}

func (p *APIProxy) record(r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, watch := r.Context().Value(watchStream{}).(stream)
	p.forwarded = append(p.forwarded, Forwarded{At: time.Now(), Watch: watch, Query: r.URL.Query()})
}

// stalled reports whether watch stream s must hold its bytes back, and a
// channel closed when that may have changed.
func (p *APIProxy) stalled(s stream) (bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stallAll || s.n <= p.stallUpTo || (p.stallSelector != "" && s.selector == p.stallSelector), p.changed
}

// heldBody is a watch stream's body that delivers nothing while stalled,
// including what it had already read when the stall began.
type heldBody struct {
	io.ReadCloser
	p   *APIProxy
	s   stream
	ctx context.Context
}

func (b *heldBody) Read(buf []byte) (int, error) {
	if err := b.wait(); err != nil {
		return 0, err
	}
	n, err := b.ReadCloser.Read(buf)
	if werr := b.wait(); werr != nil {
		return 0, werr
	}
	return n, err
}

func (b *heldBody) wait() error {
	for {
		stalled, changed := b.p.stalled(b.s)
		if !stalled {
			return nil
		}
		select {
		case <-changed:
		case <-b.ctx.Done():
			return b.ctx.Err()
		}
	}
}
