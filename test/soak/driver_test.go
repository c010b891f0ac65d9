package soak

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward-dev/keyward/verifier"
)

const forwardedPath = verifier.EnvoyPrefix + "/acme/payments/investigations/INV-7"

// answer is one forward-auth answer, with when it was asked for and when
// it came; status 0 is a transport error.
type answer struct {
	secret     *secret
	sent, came time.Time
	status     int
	// reason is the denial's reason, or for a Permit which secret
	// (current or previous) the verifier matched.
	reason string
	// replica is the URL that answered.
	replica string
}

func newClient(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConns: 4 * conns, MaxIdleConnsPerHost: conns}}
}

func ask(c *http.Client, url string, s *secret) answer {
	a := answer{secret: s, sent: time.Now(), replica: url}
	req, err := http.NewRequest(http.MethodGet, url+forwardedPath, nil)
	if err == nil {
		req.Header.Set("Authorization", "Bearer "+s.plain)
		req.Header.Set("X-Forwarded-For", s.source)
		var resp *http.Response
		if resp, err = c.Do(req); err == nil {
			a.status = resp.StatusCode
			a.reason = resp.Header.Get(verifier.HeaderSecret)
			if a.status != http.StatusOK {
				var body struct{ Reason string }
				_ = json.NewDecoder(resp.Body).Decode(&body)
				a.reason = body.Reason
			}
			_ = resp.Body.Close()
		}
	}
	a.came = time.Now()
	return a
}

// peak is the closed-loop rate of permitted requests for one secret over
// the round robin: what the soak's rate is a fraction of.
func peak(rs *replicas, s *secret, workers int, over time.Duration) float64 {
	c := newClient(workers)
	var permitted atomic.Int64
	deadline := time.Now().Add(over)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				rs.do(func(url string) {
					if ask(c, url, s).status == http.StatusOK {
						permitted.Add(1)
					}
				})
			}
		})
	}
	wg.Wait()
	return float64(permitted.Load()) / over.Seconds()
}

// drive sends requests at rate, open loop, cycling through the model's
// targets, until ctx is done, and returns every answer.
func drive(ctx context.Context, rs *replicas, m *model, rate float64, workers int) []answer {
	c := newClient(workers)
	period := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	var n atomic.Int64
	perWorker := make([][]answer, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			pace := time.NewTimer(0)
			defer pace.Stop()
			for {
				i := n.Add(1)
				// Paced to a schedule, not to the answers: a slow answer
				// does not slow the offered rate.
				pace.Reset(time.Until(start.Add(time.Duration(i) * period)))
				select {
				case <-ctx.Done():
					return
				case <-pace.C:
				}
				targets := *m.targets.Load()
				s := targets[int(i)%len(targets)]
				rs.do(func(url string) { perWorker[w] = append(perWorker[w], ask(c, url, s)) })
			}
		})
	}
	wg.Wait()
	var all []answer
	for _, as := range perWorker {
		all = append(all, as...)
	}
	return all
}
