package verifier

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/record"
	kwtestutil "github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/internal/usage"
)

// The embedded report against a real API server: written when there is
// activity, decodable, labelled for the manager's cache; not written again
// while nothing changes, nor ever by an idle replica.
func TestActivityReporterWritesOnlyChanges(t *testing.T) {
	env, err := kwtestutil.StartEnv(kwtestutil.EnvOptions{})
	if errors.Is(err, kwtestutil.ErrFIPSOnly) || errors.Is(err, kwtestutil.ErrNoAssets) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Stop)
	g := NewWithT(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	const ns = "keyward-system"
	_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	f := newFixture(t, Options{})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	rep := &ActivityReporter{Client: client, Namespace: ns, Replica: "verifier-0", Verifier: f.v, Clock: f.clock}
	name, err := usage.ActivityName(rep.Replica)
	g.Expect(err).NotTo(HaveOccurred())
	writes := func() []string {
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil
		}
		var fields []string
		for _, mf := range cm.ManagedFields {
			fields = append(fields, mf.Manager+"@"+mf.Time.String())
		}
		return append(fields, cm.ResourceVersion)
	}

	rep.report(ctx, name)
	_, err = client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	g.Expect(err).To(MatchError(ContainSubstring("not found")), "an idle replica writes nothing")

	for range 3 {
		g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{Address: netip.MustParseAddr("192.0.2.4"), Country: "DE"}).Result).To(Equal(Permit))
	}
	rep.report(ctx, name)
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cm.Labels).To(Equal(map[string]string{usage.ActivityLabel: "true", record.VerifierReportLabel: "true"}))
	g.Expect(cm.ManagedFields).To(ContainElement(HaveField("Manager", UsageFieldOwner)))
	r, err := usage.DecodeActivity([]byte(cm.Data[usage.ActivityDataKey]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Keys).To(Equal(map[string][]analytics.Minute{k.key.ID(): {{
		Start: t0, Permits: 3,
		Countries: []analytics.Count{{Value: "DE", N: 3}}, Networks: []analytics.Count{{Value: "192.0.2.0/24", N: 3}},
	}}}))
	g.Expect(r.Latency.Decisions).To(BeEquivalentTo(3))

	// The next report differs only in its latency (none since): written
	// once; after that nothing changes and nothing is written.
	rep.report(ctx, name)
	settled := writes()
	for range 5 {
		f.clock.Step(10 * time.Second)
		rep.report(ctx, name)
	}
	g.Expect(writes()).To(Equal(settled), "nothing changed, nothing written")

	// Once the minute leaves the window, the report empties, once.
	f.clock.Step(usage.ActivityMinutes * time.Minute)
	rep.report(ctx, name)
	cm, err = client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	r, err = usage.DecodeActivity([]byte(cm.Data[usage.ActivityDataKey]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Keys).To(BeEmpty())
	emptied := writes()
	for range 5 {
		f.clock.Step(10 * time.Second)
		rep.report(ctx, name)
	}
	g.Expect(writes()).To(Equal(emptied), "an idle replica writes nothing")
}

// A report of MaxActivityKeys keys, each with ActivityMinutes full minutes
// (every denial reason a minute can hold, the top-k full), stays far below
// the 1 MiB a ConfigMap may hold.
func TestActivityReportSizeAtMaxKeys(t *testing.T) {
	g := NewWithT(t)
	r := usage.ActivityReport{ReportedAt: t0, Keys: map[string][]analytics.Minute{}, Latency: usage.Latency{Decisions: 1 << 40, P50: time.Second, P99: time.Hour}}
	for i := range usage.MaxActivityKeys {
		var minutes []analytics.Minute
		for m := range usage.ActivityMinutes {
			minutes = append(minutes, fullMinute(t0.Add(time.Duration(m)*time.Minute)))
		}
		r.Keys[testKeyID(i)] = minutes
	}
	data, err := usage.EncodeActivity(r)
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("activity report of %d keys × %d full minutes: %d bytes (%.0f%% of 1 MiB)", usage.MaxActivityKeys, usage.ActivityMinutes, len(data), 100*float64(len(data))/(1<<20))
	g.Expect(len(data)).To(BeNumerically("<", usage.MaxActivityBytes), "a quarter of 1 MiB to spare")

	// Minutes of every reason a minute may hold make a report larger;
	// the least busy keys are left out until it fits.
	for id, minutes := range r.Keys {
		for i := range minutes {
			for n := len(minutes[i].Denials); n < analytics.MaxReasons; n++ {
				minutes[i].Denials[fmt.Sprintf("reason_%c%c", 'a'+n/26, 'a'+n%26)] = 199_999_999
			}
		}
		r.Keys[id] = minutes
	}
	quiet := testKeyID(7)
	r.Keys[quiet][0] = analytics.Minute{Start: t0, Permits: 1}
	fitted, data, err := fitActivity(r)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(data)).To(BeNumerically("<=", usage.MaxActivityBytes))
	g.Expect(fitted.Omitted).To(BeNumerically(">", 0))
	g.Expect(len(fitted.Keys) + fitted.Omitted).To(Equal(usage.MaxActivityKeys))
	g.Expect(fitted.Keys).NotTo(HaveKey(quiet), "the least busy go first")
	t.Logf("with %d reasons a minute: %d keys fit in %d bytes, %d left out", analytics.MaxReasons, len(fitted.Keys), len(data), fitted.Omitted)
}

// fullMinute is the largest minute a verifier writes: counts of ten digits,
// the usual denial reasons, four countries and four IPv6 networks.
func fullMinute(start time.Time) analytics.Minute {
	m := analytics.Minute{Start: start, Permits: 4_000_000_000, VerifiedDenials: 4_000_000_000, OtherDenials: 4_000_000_000, UnverifiedDenials: 4_000_000_000, Denials: map[string]uint32{}}
	for _, reason := range []Reason{ReasonInvalidSecret, ReasonTooManyFailures, ReasonRevoked, ReasonSuspended, ReasonInsufficientScope, ReasonRateLimited, ReasonQuotaExhausted, ReasonCountryNotAllowed} {
		m.Denials[string(reason)] = 199_999_999 // MaxReasons of these stay within the denials
	}
	for i := range analytics.MaxCountries {
		m.Countries = append(m.Countries, analytics.Count{Value: string(rune('A'+i)) + "Z", N: 1_999_999_999})
	}
	for i := range analytics.MaxNetworks {
		m.Networks = append(m.Networks, analytics.Count{Value: fmt.Sprintf("2001:db8:%x::/48", 0xf000+i), N: 1_999_999_999})
	}
	return m
}
