package testutil

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"
)

// WaitForTLS waits until host:port completes a TLS handshake: a webhook
// server is serving once the API server can reach it, not when its
// manager starts.
func WaitForTLS(host string, port int, timeout time.Duration) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	deadline := time.Now().Add(timeout)
	for {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe only
		if err == nil {
			_ = conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook server did not start: %w", err)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
}
