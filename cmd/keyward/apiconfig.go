package main

import (
	"fmt"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/keyward-dev/keyward/internal/apiretry"
)

// apiConfig is how both commands reach the API server: from the
// kubeconfig or the ServiceAccount, with reads that wait through an outage
// (apiretry), so that both pick up where they were within a second of the
// API server's return.
func apiConfig() (*rest.Config, error) {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.Wrap(apiretry.Wrap)
	return cfg, nil
}
