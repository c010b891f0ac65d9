// Package e2e runs keyward as `make e2e` deploys it on a real one-node
// cluster (hack/e2e): the manager and the verifier as pods from the image,
// driven with the real kubectl, and the verifier's pods asked for decisions
// on the node's network.
//
// The tests run in the order of e2e_test.go and build on each other (the
// samples are applied once). They skip unless `make e2e` started the
// cluster (KEYWARD_E2E=1), so that `go test ./...` and `go vet ./...` keep
// compiling them without needing one; `make e2e` fails when the cluster
// does not come up, it never skips.
package e2e

import (
	"fmt"
	"os"
	"testing"
)

// verifierAddr is where the verifier pods serve decisions and forward-auth
// on the node, publicAddr where they serve the OAuth endpoints.
var (
	verifierAddr = envOr("E2E_VERIFIER", "127.0.0.1:8080")
	publicAddr   = envOr("E2E_VERIFIER_PUBLIC", "127.0.0.1:8083")
)

const (
	// systemNS is the manager's namespace, verifierNS the verifier's
	// (config/default).
	systemNS   = "keyward-system"
	verifierNS = "keyward-verifier"
	managerApp = "control-plane=controller-manager"
	verifierLb = "app.kubernetes.io/name=keyward-verifier"
	leaseName  = "keyward-manager.keyward.dev"
)

func TestMain(m *testing.M) {
	if os.Getenv("KEYWARD_E2E") != "1" {
		fmt.Println("test/e2e runs under `make e2e`, which brings up the cluster: skipped")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
