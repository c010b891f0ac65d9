// Package loadspec is what passes between the benchmarks and the load
// generator process: the request to send (on the generator's stdin) and the
// result (its one line of output).
package loadspec

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
)

// Spec is the request to send.
type Spec struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	// Expect is the status a correct answer has; any other is counted,
	// except those of AlsoExpect (a flood is refused in more than one way).
	Expect     int   `json:"expect"`
	AlsoExpect []int `json:"alsoExpect,omitempty"`
	// RandomKey, when set, puts a different well-formed key into every
	// request: one no record knows, or a wrong secret of RandomKey.KeyID.
	RandomKey *RandomKey `json:"randomKey,omitempty"`
	// TLS, for an https URL, is how the generator trusts the server and
	// which client certificate it presents.
	TLS *TLS `json:"tls,omitempty"`
}

// TLS is the generator's side of a TLS connection.
type TLS struct {
	// CAFile is the PEM bundle the server's certificate must chain to.
	CAFile string `json:"caFile"`
	// CertFile and KeyFile are the client certificate, when one is sent.
	CertFile string `json:"certFile,omitempty"`
	KeyFile  string `json:"keyFile,omitempty"`
	// ResumeSessions keeps a session cache, so that a new connection may
	// resume an earlier session instead of a full handshake.
	ResumeSessions bool `json:"resumeSessions,omitempty"`
	// ConnectionPerRequest closes every connection after its request, so
	// that each request pays for a handshake (full or resumed).
	ConnectionPerRequest bool `json:"connectionPerRequest,omitempty"`
}

// RandomKey says where the random keys go.
type RandomKey struct {
	// Header carries the key, after Prefix (e.g. "Authorization",
	// "Bearer ").
	Header string `json:"header"`
	Prefix string `json:"prefix,omitempty"`
	// Pool is how many distinct keys are generated before the timed phase,
	// so that generating them costs the measurement nothing. Requests cycle
	// through them.
	Pool int `json:"pool"`
	// KeyID, when set, is the key ID of every key: secrets guessed for a
	// key that exists.
	KeyID string `json:"keyID,omitempty"`
}

// Expected reports whether status is a correct answer.
func (s Spec) Expected(status int) bool {
	return status == s.Expect || slices.Contains(s.AlsoExpect, status)
}

// Result is the one line of output. Latencies are in microseconds.
type Result struct {
	Mode        string  `json:"mode"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds"`
	TargetRate  float64 `json:"targetRate,omitempty"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	Unexpected  int64   `json:"unexpected"`
	RPS         float64 `json:"rps"`
	P50         float64 `json:"p50us"`
	P90         float64 `json:"p90us"`
	P99         float64 `json:"p99us"`
	Max         float64 `json:"maxus"`
	// CPUSeconds is the generator's own CPU time (user and system) in the
	// measured phase: on a small machine it competes with the server.
	CPUSeconds float64 `json:"cpuSeconds"`
	// FirstError is one transport error, to tell refused connections from
	// timeouts without logging every one.
	FirstError string `json:"firstError,omitempty"`
	// Handshakes counts the TLS handshakes of the measured phase, Resumed
	// those that resumed a session.
	Handshakes int64 `json:"handshakes,omitempty"`
	Resumed    int64 `json:"resumed,omitempty"`
	// Histogram holds every latency as [low, high, count] buckets in
	// nanoseconds (high exclusive, about 1.5% wide), so that runs split
	// into rounds can be merged into exact-enough percentiles.
	Histogram [][3]int64 `json:"histogram"`
}

// ClientConfig is the tls.Config of a client of t.
func (t *TLS) ClientConfig() (*tls.Config, error) {
	ca, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("tls.caFile: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("tls.caFile %s holds no PEM certificate", t.CAFile)
	}
	c := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	if t.ResumeSessions {
		c.ClientSessionCache = tls.NewLRUClientSessionCache(256)
	}
	return c, nil
}
