package verifier

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/scope"
)

// testIterations keeps PBKDF2 cheap in tests; the 600,000 default is covered
// in internal/keys and by the benchmarks.
const testIterations = 1000

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) // a Monday

// fixture is a verifier over an index the test fills by hand, with a fake
// clock.
type fixture struct {
	t     *testing.T
	clock *clocktesting.FakeClock
	index *Index
	v     *Verifier
	hash  keys.Hasher
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	h, err := keys.NewHasher(testIterations, true)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, clock: clocktesting.NewFakeClock(t0), index: NewIndex(), hash: h}
	o.Clock = f.clock
	if f.v, err = New(f.index, o); err != nil {
		t.Fatal(err)
	}
	return f
}

// issued is a key and the record the manager would publish for it.
type issued struct {
	key keys.Key
	rec record.Record
}

func (f *fixture) issue(scopes ...string) *issued {
	f.t.Helper()
	k, err := keys.Generate("")
	if err != nil {
		f.t.Fatal(err)
	}
	phc, err := f.hash.Hash(k)
	if err != nil {
		f.t.Fatal(err)
	}
	return &issued{key: k, rec: record.Record{
		Schema: record.Schema, KeyID: k.ID(), Owner: "team-fraud", State: record.Active,
		APIKey:  record.APIKeyRef{UID: "uid-" + k.ID(), Namespace: "fraud", Name: "key-" + k.ID()},
		Secrets: []record.Secret{{Serial: "1", Hash: phc, NotBefore: t0.Add(-time.Hour)}},
		Scopes:  scopes, Version: 1,
	}}
}

// rotate gives the key a new secret; the old one stays valid for grace.
func (f *fixture) rotate(i *issued, grace time.Duration) keys.Key {
	f.t.Helper()
	k, err := keys.Generate(i.key.ID())
	if err != nil {
		f.t.Fatal(err)
	}
	phc, err := f.hash.Hash(k)
	if err != nil {
		f.t.Fatal(err)
	}
	now := f.clock.Now()
	until := now.Add(grace)
	i.rec.Secrets[len(i.rec.Secrets)-1].NotAfter = &until
	i.rec.Secrets = append(i.rec.Secrets, record.Secret{Serial: "2", Hash: phc, NotBefore: now})
	i.rec.Version++
	return k
}

func (f *fixture) publish(i *issued) {
	f.t.Helper()
	b, err := record.Encode(i.rec)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.index.Put(record.SecretName(i.rec.KeyID), b); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) decide(cred string, res string, env access.Environment) Decision {
	f.t.Helper()
	sc := scope.MustParse(res)
	r, a := resourceOf(sc)
	return f.v.Decide(context.Background(), Request{Credential: cred, Resource: r, Action: a, Env: env})
}

// resourceOf turns a concrete scope string into the request it names, so
// tests can write requests in the scope grammar.
func resourceOf(s scope.Scope) (scope.Resource, scope.Action) {
	path, act, _ := strings.Cut(s.String(), ":")
	parts := strings.Split(path, "/")
	r := scope.Resource{Org: parts[0], Project: parts[1], Type: parts[2]}
	if len(parts) == 4 {
		r.ID = parts[3]
	}
	a, _ := scope.ParseAction(act)
	return r, a
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newTestHandler serves both doors from one handler, each path from the
// door that owns it, for tests about one endpoint that need no second
// server. TestDoorsServeOnlyTheirOwnPaths holds the doors apart.
func newTestHandler(v *Verifier, c Config) (http.Handler, error) {
	hs, err := NewHandlers(v, c)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case TokenPath, JWKSPath, ASMetadataPath, OIDCDiscoveryPath:
			hs.Public.ServeHTTP(w, r)
		default:
			hs.Decisions.ServeHTTP(w, r)
		}
	}), nil
}
