package verifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/keyward-dev/keyward/internal/leak"
	"github.com/keyward-dev/keyward/internal/testutil"
)

// signed is a report request signed by rep's key id.
func signed(rep *testutil.LeakReporter, id string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, GitHubLeaksPath, bytes.NewReader(body))
	req.Header.Set(HeaderGitHubKeyID, id)
	req.Header.Set(HeaderGitHubSignature, rep.Sign(id, body))
	return req
}

const leakURL = "https://github.com/acme/app/blob/main/.env"

func report(tokens ...string) []byte { return testutil.LeakReport(leakURL, tokens...) }

// recordingSink keeps the leaks it was given.
type recordingSink struct {
	mu      sync.Mutex
	reports []leak.Report
	// failNext fails that many writes, as an API server that cannot be
	// reached.
	failNext int
}

func (s *recordingSink) Leaked(_ context.Context, r leak.Report) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return errors.New("the API server cannot be reached")
	}
	s.reports = append(s.reports, r)
	return nil
}

func (s *recordingSink) all() []leak.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]leak.Report(nil), s.reports...)
}

// leakFixture is a verifier that takes reports from rep.
type leakFixture struct {
	*fixture
	rep    *testutil.LeakReporter
	sink   *recordingSink
	public http.Handler
	// keysClock drives the refreshes of the reporter's keys.
	keysClock *clocktesting.FakeClock
}

func newLeakFixture(t *testing.T, edit func(*GitHubLeaksConfig)) *leakFixture {
	t.Helper()
	rep := testutil.NewLeakReporter()
	t.Cleanup(rep.Close)
	sink := &recordingSink{}
	cfg := GitHubLeaksConfig{PublicKeysURL: rep.URL()}
	if edit != nil {
		edit(&cfg)
	}
	lf := &leakFixture{rep: rep, sink: sink, keysClock: clocktesting.NewFakeClock(t0)}
	lr, err := NewLeakReports(LeakReportsConfig{GitHub: &cfg}, LeakReportsOptions{Sink: sink, HTTPClient: rep.Client(), Clock: lf.keysClock})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Options{LeakReports: lr})
	lf.fixture = f
	hs, err := NewHandlers(f.v, Config{})
	if err != nil {
		t.Fatal(err)
	}
	lf.public = hs.Public
	return lf
}

func (lf *leakFixture) send(req *http.Request) (*httptest.ResponseRecorder, []tokenFeedback) {
	rec := httptest.NewRecorder()
	lf.public.ServeHTTP(rec, req)
	var fb []tokenFeedback
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &fb); err != nil {
			lf.t.Fatalf("answer %q: %v", rec.Body.String(), err)
		}
	}
	return rec, fb
}
