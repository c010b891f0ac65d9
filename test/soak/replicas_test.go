package soak

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/test/integration/harness"
	"github.com/keyward-dev/keyward/verifier"
)

// replica is one verifier; gate lets its requests finish before it stops,
// as a load balancer drains an endpoint before the pod goes.
type replica struct {
	*harness.Verifier
	gate    sync.RWMutex
	stopped bool
}

// replicas is the round robin the driver sends through, and every replica
// whose index a change must reach before it counts as enforced.
type replicas struct {
	mu      sync.Mutex
	serving []*replica
	// indexed holds the serving replicas and one that is starting: a
	// change lands only once a replica about to serve has it too.
	indexed []*replica
	next    atomic.Uint64
}

// start runs a replica as the verifier's ServiceAccount and puts it into
// the round robin once it has read its records.
func (rs *replicas) start(t *testing.T, g Gomega) *replica {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := harness.StartVerifier(ctx, env.Config, harness.VerifierOptions{
		Namespace: verifierNamespace, User: verifierUser, Audit: io.Discard,
		Config: verifier.Config{TrustedCallers: []string{"127.0.0.0/8"}},
	})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(v.Stop)
	r := &replica{Verifier: v}
	rs.mu.Lock()
	rs.indexed = append(rs.indexed, r)
	rs.mu.Unlock()
	// As a Service sends a pod traffic only once its readiness probe
	// passes.
	g.Eventually(func() int {
		rec := httptest.NewRecorder()
		v.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}).WithTimeout(waitFor).Should(Equal(http.StatusOK))
	rs.mu.Lock()
	rs.serving = append(rs.serving, r)
	rs.mu.Unlock()
	return r
}

// stop takes r out of the round robin, waits for its requests in flight,
// and stops it.
func (rs *replicas) stop(r *replica) {
	rs.mu.Lock()
	rs.serving = without(rs.serving, r)
	rs.indexed = without(rs.indexed, r)
	rs.mu.Unlock()
	r.gate.Lock()
	r.stopped = true
	r.gate.Unlock()
	r.Stop()
}

func without(rs []*replica, r *replica) []*replica {
	out := make([]*replica, 0, len(rs))
	for _, o := range rs {
		if o != r {
			out = append(out, o)
		}
	}
	return out
}

// do runs send on the next serving replica that has not stopped.
func (rs *replicas) do(send func(url string)) {
	for {
		rs.mu.Lock()
		r := rs.serving[rs.next.Add(1)%uint64(len(rs.serving))]
		rs.mu.Unlock()
		r.gate.RLock()
		if !r.stopped {
			send(r.URL)
			r.gate.RUnlock()
			return
		}
		r.gate.RUnlock()
	}
}

// haveVersion reports whether every replica that serves or is about to
// has read version (or a later one) of a key's record.
func (rs *replicas) haveVersion(keyID string, version int64) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, r := range rs.indexed {
		e, ok := r.Index.Lookup(keyID)
		if !ok || e.Record.Version < version {
			return false
		}
	}
	return true
}
