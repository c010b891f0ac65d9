package bench

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/signingrecord"
	"github.com/keyward-dev/keyward/internal/token"
	"github.com/keyward-dev/keyward/test/bench/loadspec"
	"github.com/keyward-dev/keyward/verifier"
)

// BenchmarkTokens sets the verifier's token work against its floors, in
// the same run:
//
//   - issuing a token at POST /oauth2/token (client authentication from the
//     verified-key cache, scope check, claims, an RS256 signature) against
//     raw RSA-2048 PKCS #1 v1.5 signing of the same size of input, both on
//     every CPU in this process without the network: the signature is the
//     unavoidable cost, the ratio says what the endpoint adds;
//   - forward-auth with a JWT bearer token it validated before (the
//     validated-token cache) against the bare hello handler, through the
//     load generator exactly as BenchmarkVerifier measures cached keys.
//
// It reads the same VERIFIER_BENCH_* knobs as BenchmarkVerifier.
func BenchmarkTokens(b *testing.B) {
	lg := newLoadgen(b)
	for i := 0; i < b.N; i++ {
		benchTokensOnce(b, lg)
	}
}

func benchTokensOnce(b *testing.B, lg loadgen) {
	helloURL := serve(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("hello"))
	}))
	issuer := "https://keyward.bench"
	signing := verifier.NewSigningKeys()
	tokens, err := verifier.NewTokens(signing, verifier.OAuthConfig{Issuer: issuer, TokenLifetimeSeconds: 3600}, nil)
	if err != nil {
		b.Fatal(err)
	}
	rsaKey := publishIssuer(b, signing)
	index := verifier.NewIndex()
	v, err := verifier.New(index, verifier.Options{Metrics: verifier.NewMetrics(prometheus.NewRegistry()), Tokens: tokens})
	if err != nil {
		b.Fatal(err)
	}
	hasher, err := keys.NewHasher(keys.DefaultIterations, false)
	if err != nil {
		b.Fatal(err)
	}
	client := publish(b, index, hasher, func(r *record.Record) {
		r.Scopes, r.AuthMethods = []string{"acme/payments/investigations:read"}, []string{record.AuthClientCredentials}
	})
	hs, err := verifier.NewHandlers(v, verifier.Config{})
	if err != nil {
		b.Fatal(err)
	}
	verifierURL, h := serve(b, hs.Decisions), hs.Public

	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"acme/payments/investigations:read"}}.Encode()
	issue := func() (int, string) {
		r := httptest.NewRequest(http.MethodPost, verifier.TokenPath, strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(client.ID(), client.Plaintext())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	// The first request runs the one PBKDF2 the cache then saves.
	code, body := issue()
	if code != http.StatusOK {
		b.Fatalf("token endpoint: %d %s", code, body)
	}
	access := body[strings.Index(body, `"access_token":"`)+16:]
	access = access[:strings.IndexByte(access, '"')]

	// Raw signing of a typical JWT signing input: header and claims of
	// the tokens above are about this long.
	digest := sha256.Sum256([]byte(strings.Repeat("x", len(access)*3/4)))
	rawSign := func() {
		if _, err := rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, digest[:]); err != nil {
			panic(err)
		}
	}
	issueOnce := func() {
		if code, body := issue(); code != http.StatusOK {
			panic(fmt.Sprintf("token endpoint: %d %s", code, body))
		}
	}

	jwt := loadspec.Spec{Method: http.MethodGet, URL: verifierURL + forwardedPath, Expect: http.StatusOK,
		Headers: map[string]string{"Authorization": "Bearer " + access, "X-Forwarded-For": "10.1.2.3"}}
	hello := loadspec.Spec{Method: http.MethodGet, URL: helloURL + forwardedPath, Expect: http.StatusOK, Headers: jwt.Headers}
	probe(b, jwt)
	probe(b, hello)

	var signOps, issueOps float64
	var signSecs, issueSecs float64
	helloPeak := &loadResult{name: "hello, closed loop"}
	jwtPeak := &loadResult{name: "cached JWT validation, closed loop"}
	for range lg.rounds {
		// Signing and issuing alternate in short slices, so that whatever
		// else the machine does weighs on both alike.
		for range 10 {
			n, s := parallelRate(lg.duration/10, rawSign)
			signOps, signSecs = signOps+n, signSecs+s
			n, s = parallelRate(lg.duration/10, issueOnce)
			issueOps, issueSecs = issueOps+n, issueSecs+s
		}
		helloPeak.add(lg.run(b, helloPeak.name, hello, 0, ""))
		jwtPeak.add(lg.run(b, jwtPeak.name, jwt, 0, ""))
	}
	signRate, issueRate := signOps/signSecs, issueOps/issueSecs
	issueRatio := issueRate / signRate
	jwtRatio := jwtPeak.rps() / helloPeak.rps()
	b.ReportMetric(issueRate, "tokens/s")
	b.ReportMetric(signRate, "rsa-signs/s")
	b.ReportMetric(issueRatio, "issue/rsa-sign")
	b.ReportMetric(jwtRatio, "jwt-cached/hello")

	fmt.Printf("\nTokens: %d CPUs, GOMAXPROCS %d; %d rounds of %s per target, the targets taking turns\n\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), lg.rounds, lg.duration)
	fmt.Printf("  raw RSA-2048 signing (in process, every CPU)     %9.0f /s\n", signRate)
	fmt.Printf("  token issuance, POST /oauth2/token (in process)  %9.0f /s\n", issueRate)
	fmt.Printf("  %-34s %9.0f req/s  p99 %s  errors %d wrong %d\n", helloPeak.name, helloPeak.rps(), helloPeak.quantile(0.99), helloPeak.Errors, helloPeak.Unexpected)
	fmt.Printf("  %-34s %9.0f req/s  p99 %s  errors %d wrong %d\n", jwtPeak.name, jwtPeak.rps(), jwtPeak.quantile(0.99), jwtPeak.Errors, jwtPeak.Unexpected)
	fmt.Printf("\n  token issuance ÷ raw RSA signing  = %.3f  (goal ≥ 0.8)\n", issueRatio)
	fmt.Printf("  cached JWT validation ÷ hello     = %.3f  (goal ≥ 0.8)\n\n", jwtRatio)
	for _, r := range []*loadResult{helloPeak, jwtPeak} {
		if r.Errors > 0 || r.Unexpected > 0 {
			b.Errorf("%s: %d transport errors (first: %s), %d unexpected statuses", r.name, r.Errors, r.FirstError, r.Unexpected)
		}
	}
}

// parallelRate runs f on GOMAXPROCS goroutines for d and returns how many
// calls finished and the seconds they took.
func parallelRate(d time.Duration, f func()) (float64, float64) {
	var n atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for !stop.Load() {
				f()
				n.Add(1)
			}
		})
	}
	time.Sleep(d) // the measured interval itself, not synchronisation
	stop.Store(true)
	wg.Wait()
	return float64(n.Load()), time.Since(start).Seconds()
}

// publishIssuer gives the verifier an RSA-2048 issuer key that signs now.
func publishIssuer(b *testing.B, keys *verifier.SigningKeys) *rsa.PrivateKey {
	b.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	kid, err := signingrecord.KID(priv.Public())
	if err != nil {
		b.Fatal(err)
	}
	jwk, err := signingrecord.PublicJWKJSON(kid, token.RS256, priv.Public())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().Add(-time.Minute)
	data, err := signingrecord.Encode(signingrecord.Record{
		Schema: signingrecord.Schema, KID: kid, Mode: signingrecord.Issuer, Algorithm: token.RS256, PublicJWK: jwk,
		PublishAt: now, SignFrom: now, TokenLifetime: time.Hour, PublishAhead: 10 * time.Minute, Version: 1,
	})
	if err != nil {
		b.Fatal(err)
	}
	pem, err := signingrecord.EncodePrivateKey(priv)
	if err != nil {
		b.Fatal(err)
	}
	if err := keys.Put(signingrecord.SecretName(kid), map[string][]byte{signingrecord.DataKey: data, signingrecord.PrivateKeyDataKey: pem}); err != nil {
		b.Fatal(err)
	}
	return priv
}
