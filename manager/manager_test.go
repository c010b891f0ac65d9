package manager

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/analytics"
)

// newManager is a manager that is never started: wiring contacts no API
// server.
func newManager(t *testing.T) ctrl.Manager {
	t.Helper()
	mgr, err := ctrl.NewManager(&rest.Config{Host: "https://127.0.0.1:1"}, ctrl.Options{
		Scheme:         Scheme(),
		Metrics:        metricsserver.Options{BindAddress: "0"},
		Cache:          controllers.CacheOptions("keyward-verifier"),
		MapperProvider: func(*rest.Config, *http.Client) (meta.RESTMapper, error) { return schemeMapper(), nil },
	})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return mgr
}

// schemeMapper maps every kind of Scheme, so that wiring needs no
// discovery; scopes are not checked here, so all but Namespace are taken
// for namespaced.
func schemeMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for gvk := range Scheme().AllKnownTypes() {
		scope := meta.RESTScopeNamespace
		if gvk.Kind == "Namespace" {
			scope = meta.RESTScopeRoot
		}
		m.Add(gvk, scope)
	}
	return m
}

// Each component gets the settings of Options, the one clock among them,
// and a part not asked for is not wired.
func TestSetupWiresThePartsAskedFor(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	c, err := Setup(newManager(t), Options{
		Parts:             Controllers | VerifierDeployer,
		VerifierNamespace: "keyward-verifier", ManagerNamespace: "keyward-system",
		Clock: clk, HashConcurrency: 1, RevokedRecordRetention: time.Hour, DefaultAllow: true,
		Verifier: controllers.VerifierDeployment{Namespace: "keyward-verifier", Image: "keyward:test"},
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.APIKeys.Clock).To(BeIdenticalTo(clk))
	g.Expect(c.SigningKeys.Clock).To(BeIdenticalTo(clk))
	g.Expect(c.Janitor.Clock).To(BeIdenticalTo(clk))
	g.Expect(c.APIKeys.TombstoneRetention).To(Equal(time.Hour))
	g.Expect(c.Janitor.Retention).To(Equal(time.Hour))
	g.Expect(c.APIKeys.DefaultAllow).To(BeTrue())
	g.Expect(c.APIKeys.Verifier).To(BeIdenticalTo(c.Availability), "the APIKey controller reports the deployer's availability")
	g.Expect(c.Deployer.Availability).To(BeIdenticalTo(c.Availability))
	g.Expect(c.KeyPolicies).NotTo(BeNil())

}

// The webhooks alone wire no controller (controller names are unique per
// process, so this test wires none that the one above did).
func TestSetupWiresOnlyThePartsAskedFor(t *testing.T) {
	g := NewWithT(t)
	c, err := Setup(newManager(t), Options{Parts: Webhooks, VerifierNamespace: "keyward-verifier"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*c).To(BeZero())
}

func TestSetupNeedsTheVerifierNamespace(t *testing.T) {
	_, err := Setup(newManager(t), Options{Parts: APIKeys, ManagerNamespace: "keyward-system"})
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring("verifier namespace")))
}

// The usage aggregator gets the one clock, reads the verifiers' reports
// unless a Redis is given, and is refused a Redis without the prefix the
// verifiers write under.
func TestSetupWiresTheUsageAggregator(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	c, err := Setup(newManager(t), Options{Parts: UsageAggregator, VerifierNamespace: "keyward-verifier", Clock: clk,
		Usage: UsageOptions{Interval: 2 * time.Minute}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Usage.Clock).To(BeIdenticalTo(clk))
	g.Expect(c.Usage.Interval).To(Equal(2 * time.Minute))
	g.Expect(c.Usage.Source).To(Equal(controllers.EmbeddedActivity{Reader: c.Usage.Client, Namespace: "keyward-verifier"}))
	g.Expect(c.Usage.Store).To(BeAssignableToTypeOf(&analytics.Store{}))
	g.Expect(c.Usage.NeedLeaderElection()).To(BeTrue())

	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rc.Close()
	c, err = Setup(newManager(t), Options{Parts: UsageAggregator, VerifierNamespace: "keyward-verifier", Clock: clk,
		Usage: UsageOptions{Redis: rc, RedisPrefix: "keyward:rl:"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Usage.Source).To(Equal(controllers.RedisActivity{Client: rc, Prefix: "keyward:rl:"}))

	_, err = Setup(newManager(t), Options{Parts: UsageAggregator, VerifierNamespace: "keyward-verifier", Clock: clk,
		Usage: UsageOptions{Redis: rc}})
	g.Expect(err).To(MatchError(ContainSubstring("prefix")))
}
