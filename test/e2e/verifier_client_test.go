package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// decision is the verifier's answer (docs/verifier.md, the decision API).
type decision struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	KeyID    string `json:"keyID"`
	Secret   string `json:"secret"`
}

// The verifier's serving certificate (config/e2e: --verifier-tls=self-managed)
// is issued for its Service's names, the first of which the suite's
// clients ask for while dialing the node's loopback.
const (
	verifierTLSSecret  = "keyward-verifier-tls"
	verifierServerName = "keyward-verifier." + verifierNS + ".svc"
)

// verifierClient is the client of the verifier pods' TLS ports, presenting
// clientCerts. It opens a connection per request: the verifier replicas
// share their port (SO_REUSEPORT) and the kernel picks one per
// connection, so a kept-alive connection would always reach the same pod.
func verifierClient(clientCerts ...tls.Certificate) (*http.Client, error) {
	roots, err := verifierCA()
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			TLSClientConfig: &tls.Config{
				RootCAs:      roots,
				ServerName:   verifierServerName,
				Certificates: clientCerts,
				MinVersion:   tls.VersionTLS12,
			},
		},
	}, nil
}

// verifierCAs holds ca.crt of the verifier's serving Secret once it has
// been read: the manager keeps its CA for the whole run, and a kubectl
// call per request would slow the suite's request loops.
var verifierCAs struct {
	sync.Mutex
	pool *x509.CertPool
}

// verifierCA reads the CA clients trust the verifier with, as a client in
// the cluster would: from the Secret the manager keeps it in.
func verifierCA() (*x509.CertPool, error) {
	verifierCAs.Lock()
	defer verifierCAs.Unlock()
	if verifierCAs.pool != nil {
		return verifierCAs.pool, nil
	}
	enc, err := kubectl("get", "secret", verifierTLSSecret, "-n", verifierNS, "-o", `jsonpath={.data.ca\.crt}`)
	if err != nil {
		return nil, err
	}
	pemBytes, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("ca.crt of Secret %s/%s: %w", verifierNS, verifierTLSSecret, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("ca.crt of Secret %s/%s holds no PEM certificate", verifierNS, verifierTLSSecret)
	}
	verifierCAs.pool = pool
	return pool, nil
}

// decide asks the verifier pods whether key may read an investigation from
// an address the e2e keys allow.
func decide(key string) (decision, error) {
	body := `{"subject":{"credential":"` + key + `"},` +
		`"resource":{"org":"acme","project":"payments","type":"investigations","id":"INV-7"},` +
		`"action":{"id":"read"},"environment":{"address":"10.1.2.3"}}`
	client, err := verifierClient()
	if err != nil {
		return decision{}, err
	}
	resp, err := client.Post("https://"+verifierAddr+"/v1/decision", "application/json", strings.NewReader(body))
	if err != nil {
		return decision{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return decision{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return decision{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	var d decision
	if err := json.Unmarshal(raw, &d); err != nil {
		return decision{}, err
	}
	return d, nil
}

// decideAsAProxy retries what a proxy in front of the verifier retries: a
// connection refused or reset before any answer (a verifier pod stopping
// resets the connections it had not accepted yet). It returns the answer
// and how many attempts were retried.
func decideAsAProxy(key string) (decision, int, error) {
	for retries := 0; ; retries++ {
		d, err := decide(key)
		if err == nil || !retryable(err) || retries == 5 {
			return d, retries, err
		}
	}
}

func retryable(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
