package analytics

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestCentroids(t *testing.T) {
	g := NewWithT(t)
	g.Expect(len(centroids)).To(BeNumerically(">=", 240))
	for code, c := range centroids {
		g.Expect(ValidCountry(code)).To(BeTrue(), code)
		g.Expect(c[0]).To(BeNumerically("~", 0, 90), code)
		g.Expect(c[1]).To(BeNumerically("~", 0, 180), code)
	}
	cases := []struct {
		a, b     string
		min, max float64
	}{
		{"DE", "FR", 500, 1000},    // neighbours: never impossible travel at 1000 km/h
		{"DE", "US", 7000, 9000},   // an ocean apart
		{"AU", "NZ", 3500, 4500},   // centre to centre, not Sydney to Auckland
		{"BR", "JP", 16000, 19000}, // near antipodes
		{"DE", "DE", 0, 0},
	}
	for _, c := range cases {
		km, ok := distanceKm(countryID(c.a), countryID(c.b))
		g.Expect(ok).To(BeTrue())
		g.Expect(km).To(BeNumerically(">=", c.min), c.a+"-"+c.b)
		g.Expect(km).To(BeNumerically("<=", c.max), c.a+"-"+c.b)
	}
	_, ok := distanceKm(countryID("DE"), countryID("ZZ"))
	g.Expect(ok).To(BeFalse(), "a code without a centroid is never travel")
}
