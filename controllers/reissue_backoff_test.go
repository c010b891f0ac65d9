package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
)

func TestReissueBackoff(t *testing.T) {
	g := NewWithT(t)
	var b reissueBackoff
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	steps := []struct {
		wait time.Duration
	}{{0}, {0}, {5 * time.Second}, {10 * time.Second}, {20 * time.Second}}
	for i, st := range steps {
		g.Expect(b.wait("k", now)).To(Equal(st.wait), "before reissue %d", i+1)
		now = now.Add(st.wait)
		g.Expect(b.wait("k", now)).To(BeZero())
		b.done("k", now)
	}
	g.Expect(b.wait("other", now)).To(BeZero(), "keys back off on their own")
	now = now.Add(reissueForgiven)
	g.Expect(b.wait("k", now)).To(BeZero(), "a key left alone is forgiven")
	b.done("k", now)
	b.done("k", now)
	g.Expect(b.wait("k", now)).To(Equal(reissueBase))
}

func TestReissueBackoffIsBounded(t *testing.T) {
	g := NewWithT(t)
	var b reissueBackoff
	now := time.Now()
	for i := range reissueMaxTraced + 10 {
		b.done(types.UID(fmt.Sprint(i)), now.Add(time.Duration(i)))
	}
	g.Expect(b.byUID).To(HaveLen(reissueMaxTraced))
	g.Expect(b.byUID).NotTo(HaveKey(types.UID("0")), "the oldest goes first")
}
