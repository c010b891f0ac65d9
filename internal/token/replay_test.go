package token

import (
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

const leeway = 30 * time.Second

type assertion struct {
	client, jti string
	exp, now    time.Time
	seen        bool
	err         error
}

func TestReplayCache(t *testing.T) {
	exp := t0.Add(time.Minute)
	tests := []struct {
		name       string
		limit, per int
		steps      []assertion
	}{
		{"a jti is used once", 10, 10, []assertion{
			{client: "c1", jti: "j1", exp: exp, now: t0},
			{client: "c1", jti: "j1", exp: exp, now: t0.Add(time.Second), seen: true},
			{client: "c1", jti: "j1", exp: exp, now: exp.Add(leeway - time.Second), seen: true},
		}},
		{"jtis are per client key", 10, 10, []assertion{
			{client: "c1", jti: "j1", exp: exp, now: t0},
			{client: "c2", jti: "j1", exp: exp, now: t0},
			{client: "c2", jti: "j1", exp: exp, now: t0, seen: true},
		}},
		{"a jti is remembered with a later exp too", 10, 10, []assertion{
			{client: "c1", jti: "j1", exp: exp, now: t0},
			{client: "c1", jti: "j1", exp: exp.Add(time.Hour), now: t0, seen: true},
		}},
		{"an expired assertion is refused, not recorded", 10, 10, []assertion{
			{client: "c1", jti: "j1", exp: exp, now: exp.Add(leeway), err: ErrAssertionExpired},
		}},
		{"no jti", 10, 10, []assertion{
			{client: "c1", jti: "", exp: exp, now: t0, err: ErrMissingJTI},
		}},
		{"full of live entries: refuse, do not forget", 2, 10, []assertion{
			{client: "c1", jti: "j1", exp: exp, now: t0},
			{client: "c2", jti: "j2", exp: exp, now: t0},
			{client: "c3", jti: "j3", exp: exp, now: t0, err: ErrReplayCacheFull},
			{client: "c1", jti: "j1", exp: exp, now: t0, seen: true},
		}},
		{"full until the entries expire", 2, 10, []assertion{
			{client: "c1", jti: "j1", exp: exp, now: t0},
			{client: "c2", jti: "j2", exp: exp.Add(time.Hour), now: t0},
			{client: "c3", jti: "j3", exp: exp, now: exp.Add(leeway - time.Second), err: ErrReplayCacheFull},
			{client: "c3", jti: "j3", exp: exp.Add(time.Minute), now: exp.Add(leeway)},
			{client: "c2", jti: "j2", exp: exp.Add(time.Hour), now: exp.Add(leeway), seen: true},
		}},
		{"one client cannot take every slot", 10, 2, []assertion{
			{client: "c1", jti: "j1", exp: exp, now: t0},
			{client: "c1", jti: "j2", exp: exp, now: t0},
			{client: "c1", jti: "j3", exp: exp, now: t0, err: ErrClientReplayLimit},
			{client: "c2", jti: "j3", exp: exp, now: t0},
			{client: "c1", jti: "j3", exp: exp.Add(time.Minute), now: exp.Add(leeway)},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r := NewReplayCache(tc.limit, tc.per, leeway)
			for i, s := range tc.steps {
				seen, err := r.SeenBefore(s.client, s.jti, s.exp, s.now)
				if s.err != nil {
					g.Expect(err).To(MatchError(s.err), "step %d", i)
				} else {
					g.Expect(err).NotTo(HaveOccurred(), "step %d", i)
				}
				g.Expect(seen).To(Equal(s.seen), "step %d", i)
				g.Expect(r.Len()).To(BeNumerically("<=", tc.limit))
			}
		})
	}
}

func TestReplayCacheEvictForgetsOneClientKey(t *testing.T) {
	g := NewWithT(t)
	exp := t0.Add(time.Minute)
	r := NewReplayCache(10, 2, leeway)
	for _, c := range []string{"c1", "c2"} {
		for _, j := range []string{"j1", "j2"} {
			_, err := r.SeenBefore(c, j, exp, t0)
			g.Expect(err).NotTo(HaveOccurred())
		}
	}
	_, err := r.SeenBefore("c1", "j3", exp, t0)
	g.Expect(err).To(MatchError(ErrClientReplayLimit))

	r.Evict("c1")
	r.Evict("unknown")
	g.Expect(r.Len()).To(Equal(2))
	seen, err := r.SeenBefore("c1", "j1", exp, t0)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(seen).To(BeFalse())
	seen, err = r.SeenBefore("c2", "j1", exp, t0)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(seen).To(BeTrue())
}

func TestReplayCacheStoresAHashOfTheJTI(t *testing.T) {
	g := NewWithT(t)
	r := NewReplayCache(10, 10, leeway)
	long := strings.Repeat("x", 4096)
	_, err := r.SeenBefore("c1", long, t0.Add(time.Minute), t0)
	g.Expect(err).NotTo(HaveOccurred())
	for k := range r.entries.items {
		g.Expect(fmt.Sprint(k)).NotTo(ContainSubstring("xxxx"))
	}
	seen, _ := r.SeenBefore("c1", long+"y", t0.Add(time.Minute), t0)
	g.Expect(seen).To(BeFalse())
}
