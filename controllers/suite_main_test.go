package controllers_test

import (
	"os"
	"testing"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/manager"
)

// TestMain assembles the suite's manager as `keyward manager` does, with
// manager.Setup: this file is in package controllers_test because
// package manager imports package controllers.
func TestMain(m *testing.M) {
	os.Exit(controllers.RunSuite(m, func(mgr ctrl.Manager, s controllers.SuiteSettings) (controllers.SuiteParts, error) {
		hasher, err := keys.NewHasher(s.Iterations, true)
		if err != nil {
			return controllers.SuiteParts{}, err
		}
		c, err := manager.Setup(mgr, manager.Options{
			Parts:                   manager.Controllers | manager.VerifierDeployer,
			VerifierNamespace:       s.VerifierNamespace,
			ManagerNamespace:        s.ManagerNamespace,
			Clock:                   s.Clock,
			Hasher:                  hasher,
			HashConcurrency:         2,
			MaxConcurrentReconciles: 4,
			WarnBefore:              s.WarnBefore,
			RevokedRecordRetention:  s.Retention,
			DefaultAllow:            true,
			Notifier:                s.Notifier,
			Audit:                   s.Audit,
			Verifier:                s.Verifier,
			WrapAPIKeyClient:        s.WrapAPIKeyClient,
		})
		if err != nil {
			return controllers.SuiteParts{}, err
		}
		// The SigningKey tests step a clock of their own; the manager is
		// not started yet, so nothing has read the shared one.
		c.SigningKeys.Clock = s.SigningClock
		return controllers.SuiteParts{APIKeys: c.APIKeys, SigningKeys: c.SigningKeys, Janitor: c.Janitor, Deployer: c.Deployer}, nil
	}))
}
