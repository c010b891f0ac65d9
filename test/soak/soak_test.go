package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

const (
	// durationVar bounds the run (e.g. 10m, 90s); without it the soak
	// is skipped.
	durationVar = "SOAK_DURATION"
	// rateVar, when set, is the offered rate in requests per second
	// instead of half of the measured peak.
	rateVar = "SOAK_RATE"
	// keysVar is the size of the pool (default 20).
	keysVar = "SOAK_KEYS"
	workers = 16
	// changeEvery paces the chaos loop: one change at a time, each
	// awaited until every replica enforces it.
	changeEvery = 500 * time.Millisecond
)

func TestSoak(t *testing.T) {
	if env == nil {
		t.Skip("set " + durationVar + " (e.g. 10m) or run `make soak`")
	}
	g := NewWithT(t)
	duration, err := time.ParseDuration(os.Getenv(durationVar))
	g.Expect(err).NotTo(HaveOccurred(), durationVar)
	g.Expect(duration).To(BeNumerically(">=", 10*time.Second), durationVar+" is at least 10s")
	pool := 20
	if v := os.Getenv(keysVar); v != "" {
		pool, err = strconv.Atoi(v)
		g.Expect(err).NotTo(HaveOccurred(), keysVar)
		g.Expect(pool).To(BeNumerically(">=", 2), keysVar)
	}

	rs := &replicas{}
	rs.start(t, g)
	rs.start(t, g)
	m := &model{}
	c := &chaos{g: g, m: m, rs: rs, made: map[string]int{}}
	for range pool {
		c.create()
	}
	measured := peak(rs, m.keys[0].current, workers, 3*time.Second)
	rate := measured / 2
	if v := os.Getenv(rateVar); v != "" {
		rate, err = strconv.ParseFloat(v, 64)
		g.Expect(err).NotTo(HaveOccurred(), rateVar)
	}
	g.Expect(rate).To(BeNumerically(">", 0), "the peak is measured with permitted requests")
	t.Logf("peak %.0f permitted/s (closed loop, %d connections, 2 replicas); soaking at %.0f/s for %v over %d keys", measured, workers, rate, duration, pool)

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	began := time.Now()
	answersCh := make(chan []answer, 1)
	go func() { answersCh <- drive(ctx, rs, m, rate, workers) }()

	rng := rand.New(rand.NewPCG(19, 4))
	pace := time.NewTicker(changeEvery)
	defer pace.Stop()
	// A replica is replaced every 30 s, and at least twice in a short run.
	replaceEvery := min(30*time.Second, duration/3)
	lastReplaced := time.Now()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-pace.C:
		}
		if ctx.Err() != nil {
			break
		}
		if time.Since(lastReplaced) >= replaceEvery {
			rs.mu.Lock()
			oldest := rs.serving[0]
			rs.mu.Unlock()
			rs.stop(oldest)
			rs.start(t, g)
			c.made["replica replaced"]++
			lastReplaced = time.Now()
			continue
		}
		c.step(rng)
	}
	answers := <-answersCh
	elapsed := time.Since(began)
	g.Expect(mgr.Done).NotTo(BeClosed(), "the manager ran throughout: %v", mgr.Err)

	var falsePermits, falseDenials, failed int
	var latencies []time.Duration
	// What the verifier answered, to show which states the traffic met:
	// the secret matched for a Permit, the reason for a denial.
	answered := map[string]int{}
	for _, a := range answers {
		answered[a.reason]++
		if a.status == 0 || a.status >= 500 {
			failed++
			continue
		}
		latencies = append(latencies, a.came.Sub(a.sent))
		mayPermit, mayDeny := verdicts(a.secret.key.history, a.secret.history, a.sent, a.came)
		switch permitted := a.status == http.StatusOK; {
		case permitted && !mayPermit:
			falsePermits++
			if falsePermits <= 5 {
				t.Errorf("false permit: %s", describe(a))
			}
		case !permitted && !mayDeny:
			falseDenials++
			if falseDenials <= 5 {
				t.Errorf("false denial: %s", describe(a))
			}
		}
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(p*float64(len(latencies)-1))]
	}
	states := map[string]int{}
	for _, k := range m.keys {
		states[k.state]++
	}
	t.Logf("soak: %d requests in %v (%.0f/s offered, %.0f/s answered), p50 %v p99 %v max %v; false permits %d, false denials %d, failed %d; answers %v; changes %v; keys at the end %v",
		len(answers), elapsed.Round(time.Millisecond), rate, float64(len(answers))/elapsed.Seconds(),
		pct(0.5), pct(0.99), pct(1), falsePermits, falseDenials, failed, answered, c.made, states)
	g.Expect(falsePermits).To(BeZero(), "false permits")
	g.Expect(falseDenials).To(BeZero(), "false denials")
	g.Expect(failed).To(BeZero(), "requests without a decision")
	for _, kind := range []string{"rotated", suspended, active, revoked, "replica replaced"} {
		g.Expect(c.made[kind]).To(BeNumerically(">", 0), "changes of kind %q", kind)
	}
}

// step makes one random change to a random key that is not revoked; a
// revoked key stays in the traffic, and a new one joins the pool.
func (c *chaos) step(rng *rand.Rand) {
	var live []*key
	for _, k := range c.m.keys {
		if k.state != revoked {
			live = append(live, k)
		}
	}
	k := live[rng.IntN(len(live))]
	roll := rng.IntN(100)
	switch {
	case k.state == active && roll < 50:
		c.rotate(k)
	case k.state == active && roll < 85:
		c.setState(k, suspended)
	case k.state == suspended && roll < 80:
		c.setState(k, active)
	default:
		c.setState(k, revoked)
		c.create()
	}
}

// describe tells what a wrong answer was wrong about, for the one who
// reads a failed soak.
func describe(a answer) string {
	at := func(t time.Time) string { return t.Format("15:04:05.000000") }
	windows := func(h history) string {
		var out []string
		for _, c := range h {
			out = append(out, fmt.Sprintf("[%s, %s]→%v", at(c.from), at(c.to), c.permit))
		}
		return strings.Join(out, " ")
	}
	return fmt.Sprintf("%d %q from %s: key %s (%s), secret of %s, sent %s answered %s; key changes %s; secret changes %s",
		a.status, a.reason, a.replica, a.secret.key.name, a.secret.key.keyID, a.secret.source, at(a.sent), at(a.came),
		windows(a.secret.key.history), windows(a.secret.history))
}
