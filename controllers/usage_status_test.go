package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
)

func TestErrorRate(t *testing.T) {
	g := NewWithT(t)
	for _, c := range []struct {
		denials, requests uint64
		want              string
	}{
		{0, 0, ""},
		{0, 5, "0.0%"},
		{1, 1001, "0.0%"},
		{1, 1000, "0.1%"},
		{5, 24, "20.8%"},
		{999, 1000, "99.9%"},
		{1000, 1000, "100.0%"},
		{1 << 62, 1 << 62, "100.0%"},
	} {
		g.Expect(ErrorRate(c.denials, c.requests)).To(Equal(c.want), "%d of %d", c.denials, c.requests)
	}
}

func TestUsageStatusBoundsAndOmitsEmptyWindows(t *testing.T) {
	g := NewWithT(t)
	many := make([]analytics.Count, 8)
	for i := range many {
		many[i] = analytics.Count{Value: string(rune('A'+i)) + "X", N: uint32(10 - i)}
	}
	u := usageStatus(analytics.Summary{
		Day:          analytics.Window{Requests: 10, Denials: 10, TopDenials: many},
		TopCountries: many, TopNetworks: many,
	})
	g.Expect(u.LastUsedTime).To(BeNil(), "denials only: never used")
	g.Expect(u.LastHour).To(BeNil())
	g.Expect(u.LastDay.TopDenials).To(HaveLen(3))
	g.Expect(u.LastDay.ErrorRate).To(Equal("100.0%"))
	g.Expect(u.TopCountries).To(HaveLen(5))
	g.Expect(u.TopNetworks).To(HaveLen(5))
	g.Expect(u.TopCountries[0]).To(Equal(keywardv1.CountryCount{Country: "AX", Requests: 10}))
}

func TestOnlyUsageWritesAreIgnored(t *testing.T) {
	g := NewWithT(t)
	before := newAPIKey("ns", "k")
	before.ResourceVersion = "1"
	usageWrite := before.DeepCopy()
	usageWrite.ResourceVersion = "2"
	usageWrite.Status.Usage = &keywardv1.UsageStatus{LastUsedTime: &metav1.Time{Time: time.Now()}}
	g.Expect(onlyUsageChanged(before, usageWrite)).To(BeTrue())

	both := usageWrite.DeepCopy()
	both.Status.ObservedGeneration = 3
	g.Expect(onlyUsageChanged(before, both)).To(BeFalse())
	spec := usageWrite.DeepCopy()
	spec.Spec.Suspended = true
	g.Expect(onlyUsageChanged(before, spec)).To(BeFalse())
	annotated := usageWrite.DeepCopy()
	annotated.Annotations = map[string]string{"keyward.dev/acknowledge-anomaly": "x"}
	g.Expect(onlyUsageChanged(before, annotated)).To(BeFalse())
	g.Expect(onlyUsageChanged(before, before.DeepCopy())).To(BeFalse(), "a resync changes nothing, and is not dropped here")
}
