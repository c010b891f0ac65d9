package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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

// freshConnections opens a connection per request: the verifier replicas
// share their port (SO_REUSEPORT) and the kernel picks one per
// connection, so a kept-alive connection would always reach the same pod.
var freshConnections = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// decide asks the verifier pods whether key may read an investigation from
// an address the e2e keys allow.
func decide(key string) (decision, error) {
	body := `{"subject":{"credential":"` + key + `"},` +
		`"resource":{"org":"acme","project":"payments","type":"investigations","id":"INV-7"},` +
		`"action":{"id":"read"},"environment":{"address":"10.1.2.3"}}`
	resp, err := freshConnections.Post("http://"+verifierAddr+"/v1/decision", "application/json", strings.NewReader(body))
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
