package token

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func claimsExpiringAt(exp time.Time) Claims {
	c := baseClaims()
	c.Expiry = exp
	return c
}

func TestCacheLifetime(t *testing.T) {
	tests := []struct {
		name string
		at   time.Time
		hit  bool
	}{
		{"before exp", t0.Add(time.Minute - time.Second), true},
		{"at exp", t0.Add(time.Minute), false},
		{"after exp", t0.Add(time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			c := NewCache(4)
			want := claimsExpiringAt(t0.Add(time.Minute))
			c.Put("h.p.s", want, t0)
			got, ok := c.Get("h.p.s", tc.at)
			g.Expect(ok).To(Equal(tc.hit))
			if tc.hit {
				g.Expect(got).To(Equal(want))
			}
		})
	}
}

func TestCacheKeysOnTheWholeToken(t *testing.T) {
	g := NewWithT(t)
	c := NewCache(4)
	c.Put("h.p.s", claimsExpiringAt(t0.Add(time.Minute)), t0)
	_, ok := c.Get("h.other-payload.s", t0)
	g.Expect(ok).To(BeFalse(), "a signature moved onto another payload must not hit")
	_, ok = c.Get("h.p.s", t0)
	g.Expect(ok).To(BeTrue())
}

func TestCacheDoesNotStoreExpiredTokens(t *testing.T) {
	g := NewWithT(t)
	c := NewCache(4)
	c.Put("a", claimsExpiringAt(t0), t0)
	c.Put("b", Claims{}, t0)
	g.Expect(c.Len()).To(BeZero())
}

func TestCacheEvictsTheSoonestExpiringWhenFull(t *testing.T) {
	g := NewWithT(t)
	c := NewCache(3)
	c.Put("late", claimsExpiringAt(t0.Add(3*time.Minute)), t0)
	c.Put("soon", claimsExpiringAt(t0.Add(1*time.Minute)), t0)
	c.Put("mid", claimsExpiringAt(t0.Add(2*time.Minute)), t0)
	c.Put("new", claimsExpiringAt(t0.Add(4*time.Minute)), t0)

	g.Expect(c.Len()).To(Equal(3))
	for key, hit := range map[string]bool{"soon": false, "mid": true, "late": true, "new": true} {
		_, ok := c.Get(key, t0)
		g.Expect(ok).To(Equal(hit), key)
	}

	// Re-storing a present token replaces it instead of evicting another.
	c.Put("mid", claimsExpiringAt(t0.Add(5*time.Minute)), t0)
	g.Expect(c.Len()).To(Equal(3))
	_, ok := c.Get("late", t0)
	g.Expect(ok).To(BeTrue())
}

func TestCacheSweepsExpiredEntriesBeforeEvictingLiveOnes(t *testing.T) {
	g := NewWithT(t)
	c := NewCache(3)
	c.Put("a", claimsExpiringAt(t0.Add(1*time.Minute)), t0)
	c.Put("b", claimsExpiringAt(t0.Add(2*time.Minute)), t0)
	c.Put("c", claimsExpiringAt(t0.Add(9*time.Minute)), t0)

	later := t0.Add(2 * time.Minute)
	c.Put("d", claimsExpiringAt(t0.Add(8*time.Minute)), later)
	g.Expect(c.Len()).To(Equal(2), "both expired entries are gone, the live one stays")
	_, ok := c.Get("c", later)
	g.Expect(ok).To(BeTrue())
}

func TestCacheHardCap(t *testing.T) {
	g := NewWithT(t)
	c := NewCache(100)
	for i := range 1000 {
		c.Put(fmt.Sprint(i), claimsExpiringAt(t0.Add(time.Duration(1000-i)*time.Second)), t0)
		g.Expect(c.Len()).To(BeNumerically("<=", 100))
	}
	c.Purge()
	g.Expect(c.Len()).To(BeZero())
	g.Expect(NewCache(0).max).To(Equal(1))
}
