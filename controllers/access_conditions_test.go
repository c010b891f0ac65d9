package controllers

import (
	"context"
	"net/netip"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/record"
)

func withEveryAccessCondition(k *keywardv1.APIKey) {
	k.Spec.Conditions = &keywardv1.AccessConditions{
		SourceCIDRs: []keywardv1.CIDR{"10.0.0.0/8", "2001:db8::/32"},
		TimeWindows: []keywardv1.TimeWindow{
			{Days: []keywardv1.Weekday{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "08:00", End: "20:00", TimeZone: "Europe/Berlin"},
			{Days: []keywardv1.Weekday{"Sat"}, Start: "22:00", End: "02:00"},
		},
		Countries:              []keywardv1.CountryCode{"DE", "NL"},
		Networks:               []keywardv1.NetworkName{"corp"},
		RequireCompliantDevice: true,
	}
}

func TestTheRecordCarriesEveryAccessCondition(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := createReady(g, newAPIKey(ns, "conditioned", withEveryAccessCondition))
	deleteAtEnd(t, key)

	rec := recordFor(g, key.Status.KeyID)
	g.Expect(rec.Conditions).To(Equal(access.Conditions{
		SourceCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"},
		TimeWindows: []access.TimeWindow{
			{Days: []string{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "08:00", End: "20:00", TimeZone: "Europe/Berlin"},
			{Days: []string{"Sat"}, Start: "22:00", End: "02:00"},
		},
		Countries:              []string{"DE", "NL"},
		Networks:               []string{"corp"},
		RequireCompliantDevice: true,
	}))

	// What the verifier will make of it: a Tuesday noon in Berlin from the
	// corporate network in Germany on a compliant device is admitted, the
	// same request from France is not.
	compiled, err := access.Compile(rec.Conditions)
	g.Expect(err).NotTo(HaveOccurred())
	classes, err := access.ParseClasses(map[string][]string{"corp": {"10.1.0.0/16"}})
	g.Expect(err).NotTo(HaveOccurred())
	env := access.Environment{
		Address: netip.MustParseAddr("10.1.2.3"), Time: time.Date(2026, 3, 24, 11, 0, 0, 0, time.UTC),
		Country: "DE", Device: access.DeviceCompliant,
	}
	g.Expect(compiled.Check(env, classes)).To(Equal(access.Met))
	env.Country = "FR"
	g.Expect(compiled.Check(env, classes)).To(Equal(access.CountryNotAllowed))

	// Changing a condition republishes the record under a new version.
	patchKey(g, key, func(k *keywardv1.APIKey) {
		k.Spec.Conditions.Countries = []keywardv1.CountryCode{"NL"}
		k.Spec.Conditions.TimeWindows[0].TimeZone = "Europe/Amsterdam"
	})
	g.Eventually(func(g Gomega) {
		got := recordFor(g, key.Status.KeyID)
		g.Expect(got.Conditions.Countries).To(Equal([]string{"NL"}))
		g.Expect(got.Conditions.TimeWindows[0].TimeZone).To(Equal("Europe/Amsterdam"))
		g.Expect(got.Version).To(Equal(rec.Version + 1))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

// The webhook refuses a time zone nobody knows; without it, the manager
// must still not publish conditions the verifier would refuse, and must
// not let them hold up a revocation.
func TestAccessConditionsNobodyCanEnforceAreNotPublished(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	key := newAPIKey(ns, "martian", func(k *keywardv1.APIKey) {
		k.Spec.Conditions.TimeWindows = []keywardv1.TimeWindow{{Start: "09:00", End: "17:00", TimeZone: "Mars/Olympus_Mons"}}
	})
	g.Expect(k8s.Create(context.Background(), key)).To(Succeed())
	deleteAtEnd(t, key)

	got := waitFor(g, key, keywardv1.InvalidSpecReason)
	ready := meta.FindStatusCondition(got.Status.Conditions, keywardv1.ReadyCondition)
	g.Expect(ready.Message).To(ContainSubstring(`timeWindows[0].timeZone: unknown time zone "Mars/Olympus_Mons"`))
	g.Expect(meta.IsStatusConditionFalse(got.Status.Conditions, keywardv1.PublishedCondition)).To(BeTrue())
	g.Expect(got.Status.KeyID).NotTo(BeEmpty())
	// The status is written after the publishing phase, so a published
	// record would exist by now: the key ID is bound (its record is
	// issuing), but no secret verifies, so the key cannot be used.
	issuing := recordFor(g, got.Status.KeyID)
	g.Expect(issuing.State).To(Equal(record.Issuing))
	g.Expect(issuing.Secrets).To(BeEmpty(), "no secret verifies, so the key cannot be used")

	patchKey(g, key, func(k *keywardv1.APIKey) { k.Spec.Revoked = true })
	waitFor(g, key, keywardv1.RevokedReason)
	rec := recordFor(g, got.Status.KeyID)
	g.Expect(rec.State).To(Equal(record.Revoked))
	g.Expect(rec.Conditions.IsZero()).To(BeTrue())
}
