package main

import (
	"fmt"
	"path/filepath"
)

// startVerifier runs `keyward verifier` on loopback against the local
// control plane, reading the records the manager publishes, as the
// Deployment the manager creates in a cluster would.
func startVerifier(kubeconfig string) (*child, error) {
	apiAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, fmt.Errorf("finding a free port for the verifier: %w", err)
	}
	publicAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, fmt.Errorf("finding a free port for the verifier's public endpoints: %w", err)
	}
	probeAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, fmt.Errorf("finding a free port for the verifier's health probes: %w", err)
	}
	c, err := startChild("verifier", kubeconfig, []string{"verifier",
		"--namespace=" + verifierNamespace,
		"--bind-address=" + apiAddr,
		"--public-bind-address=" + publicAddr,
		"--health-probe-bind-address=" + probeAddr,
		"--metrics-bind-address=0",
		"--audit-log=" + filepath.Join(localDir, "verifier-audit.log"),
	}, probeAddr)
	if err != nil {
		return nil, err
	}
	c.apiAddr, c.publicAddr = apiAddr, publicAddr
	return c, nil
}
