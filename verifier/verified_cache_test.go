package verifier

import (
	"fmt"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
)

func macOf(s string) macKey {
	var m macKey
	copy(m[:], s)
	return m
}

func TestVerifiedCacheHitsOnlyTheVersionItVerified(t *testing.T) {
	g := NewWithT(t)
	c := newVerifiedCache(10)
	g.Expect(c.put(macOf("a"), verified{keyID: "k1", version: 3, serial: "s1"})).To(BeTrue(), "the secret's first use")

	hit, ok := c.get(macOf("a"), "k1", 3)
	g.Expect(ok).To(BeTrue())
	g.Expect(hit.serial).To(Equal("s1"))
	_, ok = c.get(macOf("a"), "k1", 4)
	g.Expect(ok).To(BeFalse(), "a newer record version must verify again")
	_, ok = c.get(macOf("a"), "k2", 3)
	g.Expect(ok).To(BeFalse(), "an entry never answers for another key")
	_, ok = c.get(macOf("b"), "k1", 3)
	g.Expect(ok).To(BeFalse())

	g.Expect(c.put(macOf("a"), verified{keyID: "k1", version: 4, serial: "s1"})).To(BeFalse(), "the same secret again is no first use")
	_, ok = c.get(macOf("a"), "k1", 4)
	g.Expect(ok).To(BeTrue())
	g.Expect(c.len()).To(Equal(1))
}

func TestVerifiedCacheForgetsEveryEntryOfAKey(t *testing.T) {
	g := NewWithT(t)
	c := newVerifiedCache(10)
	c.put(macOf("a"), verified{keyID: "k1", version: 1})
	c.put(macOf("b"), verified{keyID: "k1", version: 1})
	c.put(macOf("c"), verified{keyID: "k2", version: 1})

	c.forget("k1")
	for _, m := range []string{"a", "b"} {
		_, ok := c.get(macOf(m), "k1", 1)
		g.Expect(ok).To(BeFalse(), m)
	}
	_, ok := c.get(macOf("c"), "k2", 1)
	g.Expect(ok).To(BeTrue(), "another key's entry stays")
	g.Expect(c.len()).To(Equal(1))
	g.Expect(c.put(macOf("a"), verified{keyID: "k1", version: 2})).To(BeTrue(), "after its record changed, a secret's use is a first use again")
}

func TestVerifiedCacheStaysWithinItsCap(t *testing.T) {
	g := NewWithT(t)
	c := newVerifiedCache(3)
	for i := range 10 {
		c.put(macOf(fmt.Sprint(i)), verified{keyID: fmt.Sprintf("k%d", i%4), version: 1})
		g.Expect(c.len()).To(BeNumerically("<=", 3))
	}
	_, ok := c.get(macOf("9"), "k1", 1)
	g.Expect(ok).To(BeTrue(), "the newest entry is kept")
	held := 0
	for i := range 10 {
		if _, ok := c.get(macOf(fmt.Sprint(i)), fmt.Sprintf("k%d", i%4), 1); ok {
			held++
		}
	}
	g.Expect(held).To(Equal(c.len()), "size counts exactly the entries that answer")
}

// Requests read the cache without a lock while first uses and record
// changes write it: run with -race.
func TestVerifiedCacheReadsWhileWritten(t *testing.T) {
	g := NewWithT(t)
	c := newVerifiedCache(50)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				id := fmt.Sprintf("k%d", i%7)
				m := macOf(fmt.Sprintf("%d-%d", w, i%40))
				switch i % 3 {
				case 0:
					c.put(m, verified{keyID: id, version: 1})
				case 1:
					c.get(m, id, 1)
				default:
					if i%30 == 2 {
						c.forget(id)
					}
				}
			}
		})
	}
	wg.Wait()
	g.Expect(c.len()).To(BeNumerically("<=", 50))
	count := 0
	c.entries.Range(func(any, any) bool { count++; return true })
	g.Expect(count).To(Equal(c.len()))
}
