package verifier

import (
	"fmt"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
)

func TestAnswerMemoComputesOncePerKeyAndStaysBounded(t *testing.T) {
	g := NewWithT(t)
	var memo answerMemo[string, int]
	var mu sync.Mutex
	computed := map[string]int{}
	compute := func(k string) int {
		mu.Lock()
		defer mu.Unlock()
		computed[k]++
		return len(k)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 50 {
				g.Expect(memo.get(fmt.Sprint("reason-", i), compute)).To(Equal(len(fmt.Sprint("reason-", i))))
			}
		})
	}
	wg.Wait()
	for k, n := range computed {
		g.Expect(n).To(Equal(1), "%s computed more than once", k)
	}
	// Past the bound values are still right, only no longer kept.
	for i := range 2 * maxAnswers {
		g.Expect(memo.get(fmt.Sprint("k", i), func(k string) int { return i })).To(Equal(i))
	}
	g.Expect(*memo.m.Load()).To(HaveLen(maxAnswers))
}
