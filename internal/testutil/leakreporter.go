package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// LeakReporter plays GitHub secret scanning towards keyward's leak
// endpoint: it signs reports with ECDSA P-256 key pairs of its own and
// serves their public keys in GitHub's format over TLS.
type LeakReporter struct {
	mu      sync.Mutex
	keys    map[string]*ecdsa.PrivateKey
	failing bool
	// limitedUntil makes the key set answer 403 with GitHub's rate-limit
	// headers until then.
	limitedUntil time.Time
	fetches      atomic.Int64
	srv          *httptest.Server
}

// NewLeakReporter starts a reporter with one key, "key-1", until Close.
// It panics where a test would fail: a suite's TestMain has no test.
func NewLeakReporter() *LeakReporter {
	r := &LeakReporter{keys: map[string]*ecdsa.PrivateKey{}}
	r.AddKey("key-1")
	r.srv = httptest.NewTLSServer(http.HandlerFunc(r.serveKeys))
	return r
}

// Close stops serving the key set.
func (r *LeakReporter) Close() { r.srv.Close() }

// URL serves the public key set; Client trusts its certificate.
func (r *LeakReporter) URL() string          { return r.srv.URL }
func (r *LeakReporter) Client() *http.Client { return r.srv.Client() }

// Fetches counts the reads of the public key set.
func (r *LeakReporter) Fetches() int64 { return r.fetches.Load() }

// AddKey adds a key pair to the published set.
func (r *LeakReporter) AddKey(id string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	r.mu.Lock()
	r.keys[id] = k
	r.mu.Unlock()
}

// SetRateLimited makes the key set's URL answer 403 as GitHub's API does
// past its rate limit, with X-RateLimit-Reset at until; the zero time
// lifts it.
func (r *LeakReporter) SetRateLimited(until time.Time) {
	r.mu.Lock()
	r.limitedUntil = until
	r.mu.Unlock()
}

// SetFailing makes the key set's URL answer 503.
func (r *LeakReporter) SetFailing(f bool) {
	r.mu.Lock()
	r.failing = f
	r.mu.Unlock()
}

func (r *LeakReporter) serveKeys(w http.ResponseWriter, _ *http.Request) {
	r.fetches.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	if !r.limitedUntil.IsZero() {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(r.limitedUntil.Unix(), 10))
		http.Error(w, "API rate limit exceeded", http.StatusForbidden)
		return
	}
	var list []map[string]any
	for id, k := range r.keys {
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			panic(err)
		}
		list = append(list, map[string]any{
			"key_identifier": id, "is_current": true,
			"key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"public_keys": list})
}

// Sign is GitHub's Github-Public-Key-Signature of body by the key named
// id: base64 of an ASN.1 ECDSA signature of its SHA-256.
func (r *LeakReporter) Sign(id string, body []byte) string {
	r.mu.Lock()
	k := r.keys[id]
	r.mu.Unlock()
	if k == nil {
		panic("the reporter has no key " + id)
	}
	digest := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// LeakReport is a body of GitHub's format reporting tokens found at url.
func LeakReport(url string, tokens ...string) []byte {
	type match struct {
		Token  string `json:"token"`
		Type   string `json:"type"`
		URL    string `json:"url"`
		Source string `json:"source"`
	}
	list := []match{}
	for _, tok := range tokens {
		list = append(list, match{Token: tok, Type: "keyward_api_key", URL: url, Source: "content"})
	}
	b, _ := json.Marshal(list)
	return b
}
