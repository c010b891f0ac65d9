package bench

import (
	"fmt"
	"net"
	"net/http"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/servingtls"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/test/bench/loadspec"
	"github.com/keyward-dev/keyward/verifier"
)

// BenchmarkMutualTLS puts the verifier's forward-auth endpoint, answering
// a client that authenticates with its certificate alone over the
// verifier's own TLS listener, next to a bare hello handler behind the
// same TLS configuration (certificate, client-certificate mode, CA
// bundle), driven by the same load generator presenting the same client
// certificate. Both pay for TLS; the ratio is what the certificate's
// lookup, binding and chain check (cached after the first request) and
// the rest of the decision cost on top.
//
// Connections are kept alive, so handshakes are few; the load generator
// keeps a session cache, and the figures say how many handshakes each run
// made and how many of them resumed a session.
func BenchmarkMutualTLS(b *testing.B) {
	lg := newLoadgen(b)
	for i := 0; i < b.N; i++ {
		benchMutualTLSOnce(b, lg)
	}
}

func benchMutualTLSOnce(b *testing.B, lg loadgen) {
	dir := b.TempDir()
	ca := testutil.NewCA(b, "bench clients and server")
	caFile := ca.WriteFile(b, dir, "ca")
	serverCert, serverKey := ca.Issue(b, testutil.CertOptions{
		CommonName: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
	}).WriteFiles(b, dir, "server")
	const spiffeID = "spiffe://bench.example/ns/fraud/sa/reporter"
	clientCert, clientKey := ca.Issue(b, testutil.CertOptions{CommonName: "reporter", URIs: []string{spiffeID}}).WriteFiles(b, dir, "client")

	// The verifier's listener as `keyward verifier --tls-client-auth
	// optional` serves it; hello gets the very same configuration.
	src, err := servingtls.Load(servingtls.Files{
		CertFile: serverCert, KeyFile: serverKey, ClientCAFile: caFile, ClientAuth: servingtls.ClientAuthOptional,
	})
	if err != nil {
		b.Fatal(err)
	}
	helloURL := serveTLS(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("hello"))
	}), src)

	conf := verifier.Config{ClientCertificates: verifier.ClientCertificates{
		Authorities: []verifier.CertificateAuthority{{Name: "bench", CAFile: caFile}},
	}}
	authorities, err := verifier.LoadAuthorities(conf.ClientCertificates.Authorities)
	if err != nil {
		b.Fatal(err)
	}
	index := verifier.NewIndex()
	v, err := verifier.New(index, verifier.Options{Metrics: verifier.NewMetrics(prometheus.NewRegistry()), Authorities: authorities})
	if err != nil {
		b.Fatal(err)
	}
	hasher, err := keys.NewHasher(keys.DefaultIterations, false)
	if err != nil {
		b.Fatal(err)
	}
	publish(b, index, hasher, func(r *record.Record) {
		r.AuthMethods = []string{record.AuthMutualTLS}
		r.ClientCertificate = &certbind.Binding{URI: spiffeID, Authority: "bench", Credential: certbind.CertificateOnly}
	})
	hs, err := verifier.NewHandlers(v, conf)
	if err != nil {
		b.Fatal(err)
	}
	verifierURL := serveTLS(b, hs.Decisions, src)

	clientTLS := &loadspec.TLS{CAFile: caFile, CertFile: clientCert, KeyFile: clientKey, ResumeSessions: true}
	certificate := loadspec.Spec{Method: http.MethodGet, URL: verifierURL + forwardedPath, Expect: http.StatusOK, TLS: clientTLS}
	hello := loadspec.Spec{Method: http.MethodGet, URL: helloURL + forwardedPath, Expect: http.StatusOK, TLS: clientTLS}
	// Without the certificate the verifier refuses: proof that the
	// certificate, and nothing else, is what permits.
	anonymous := loadspec.Spec{Method: http.MethodGet, URL: verifierURL + forwardedPath, Expect: http.StatusUnauthorized,
		TLS: &loadspec.TLS{CAFile: caFile}}
	for _, s := range []loadspec.Spec{hello, certificate, anonymous} {
		probe(b, s)
	}

	// The same, a handshake per request: what a client that does not
	// keep its connections costs, and how much session resumption saves.
	perRequest := *clientTLS
	perRequest.ConnectionPerRequest = true
	helloHandshakes, certHandshakes := hello, certificate
	helloHandshakes.TLS, certHandshakes.TLS = &perRequest, &perRequest

	helloPeak := &loadResult{name: "hello over mutual TLS"}
	certPeak := &loadResult{name: "certificate alone, cached"}
	helloHS := &loadResult{name: "hello, handshake per request"}
	certHS := &loadResult{name: "certificate, handshake per req."}
	for range lg.rounds {
		helloPeak.add(lg.run(b, helloPeak.name, hello, 0, ""))
		certPeak.add(lg.run(b, certPeak.name, certificate, 0, ""))
		helloHS.add(lg.run(b, helloHS.name, helloHandshakes, 0, ""))
		certHS.add(lg.run(b, certHS.name, certHandshakes, 0, ""))
	}
	all := []*loadResult{helloPeak, certPeak, helloHS, certHS}
	ratio := certPeak.rps() / helloPeak.rps()
	handshakeRatio := certHS.rps() / helloHS.rps()
	b.ReportMetric(helloPeak.rps(), "hello-req/s")
	b.ReportMetric(ratio, "mtls-cached/hello")
	b.ReportMetric(handshakeRatio, "mtls-handshake/hello")

	fmt.Printf("\nVerifier forward-auth with a client certificate alone, over its own TLS listener, against a hello handler over the same TLS\n")
	fmt.Printf("%d CPUs, GOMAXPROCS %d; load generator in its own process, %d keep-alive connections, a TLS session cache;\n",
		goruntime.NumCPU(), goruntime.GOMAXPROCS(0), lg.conns)
	fmt.Printf("each target measured for %d rounds of %s (each after %s of warm-up), the targets taking turns\n\n",
		lg.rounds, lg.duration, lg.warmup)
	fmt.Printf("  %-30s %9s %9s %9s %9s %11s %8s %7s %6s\n", "run", "req/s", "p50", "p99", "max", "handshakes", "resumed", "errors", "wrong")
	for _, r := range all {
		fmt.Printf("  %-30s %9.0f %9s %9s %9s %11d %8d %7d %6d\n", r.name, r.rps(),
			r.quantile(0.50), r.quantile(0.99), r.max, r.Handshakes, r.Resumed, r.Errors, r.Unexpected)
	}
	fmt.Printf("\n  certificate alone, cached ÷ hello over mutual TLS = %.3f  (goal ≥ 0.9)\n", ratio)
	fmt.Printf("  the same with a handshake per request             = %.3f\n", handshakeRatio)
	fmt.Printf("  (handshakes and resumptions are counted in the measured phases only: kept-alive connections\n")
	fmt.Printf("   were opened in the warm-up; with a connection per request, resumed handshakes skip the certificates)\n\n")
	for _, r := range all {
		if r.Errors > 0 || r.Unexpected > 0 {
			b.Errorf("%s: %d transport errors (first: %s), %d unexpected statuses: its figures do not measure what they claim",
				r.name, r.Errors, r.FirstError, r.Unexpected)
		}
	}
}

// serveTLS runs h with the verifier's server settings behind src's TLS
// configuration.
func serveTLS(b *testing.B, h http.Handler, src *servingtls.Source) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{
		Handler: h, TLSConfig: src.ServerConfig(),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	b.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String()
}
