package controllers

import (
	"testing"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyward-dev/keyward/internal/audit"
)

// The package's suite is assembled by manager.Setup, which imports this
// package; only an external test package (suite_main_test.go) may import
// it. What that TestMain needs of the internal suite is exported here,
// for tests only.

// SuiteSettings are the internal suite's settings for the assembly.
type SuiteSettings struct {
	VerifierNamespace, ManagerNamespace string
	Iterations                          int
	WarnBefore, Retention               time.Duration
	Notifier                            Notifier
	Audit                               audit.Sink
	Verifier                            VerifierDeployment
	WrapAPIKeyClient                    func(client.Client) client.Client
	// Clock is the fake clock the APIKey tests step (the APIKey
	// controller, the janitor); SigningClock the one the SigningKey tests
	// step, so that neither suite's steps move the other's keys.
	Clock, SigningClock clock.Clock
}

// SuiteParts are the assembled components the internal tests reach.
type SuiteParts struct {
	APIKeys     *APIKeyReconciler
	SigningKeys *SigningKeyReconciler
	Janitor     *RecordJanitor
	Deployer    *VerifierDeployer
}

// SuiteAssembler wires the suite's components into mgr.
type SuiteAssembler func(mgr ctrl.Manager, s SuiteSettings) (SuiteParts, error)

// RunSuite runs the package's tests against one API server and one
// manager, assembled by assemble.
func RunSuite(m *testing.M, assemble SuiteAssembler) int { return runSuite(m, assemble) }
