package verifier

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/scope"
)

const inScope = "acme/payments/investigations/INV-7:read"

func TestDecisionsByKeyState(t *testing.T) {
	past, future := t0.Add(-time.Minute), t0.Add(time.Hour)
	tests := map[string]struct {
		change func(*record.Record)
		want   Reason
		result Result
	}{
		"active":        {func(*record.Record) {}, ReasonAllowed, Permit},
		"suspended":     {func(r *record.Record) { r.State = record.Suspended }, ReasonSuspended, Deny},
		"revoked":       {func(r *record.Record) { r.State, r.Secrets, r.RevokedAt = record.Revoked, nil, &past }, ReasonRevoked, Deny},
		"expired state": {func(r *record.Record) { r.State, r.Secrets = record.Expired, nil }, ReasonExpired, Deny},
		// The manager marks expiry on its next reconcile; the verifier
		// does not wait for it.
		"past expiry, still active": {func(r *record.Record) { r.ExpiresAt = &past }, ReasonExpired, Deny},
		"not yet valid":             {func(r *record.Record) { r.Secrets[0].NotBefore = future }, ReasonNotYetValid, Deny},
		// Bound to its APIKey, its first secret on the way: nothing verifies.
		"issuing": {func(r *record.Record) {
			staged := r.Secrets[0]
			staged.Fingerprint = "hmac-sha256:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			r.State, r.Secrets = record.Issuing, nil
			r.Ledger = &record.Ledger{Staged: &staged, StagedFor: record.StagedForKey}
		}, ReasonNotYetValid, Deny},
		"tokens only":    {func(r *record.Record) { r.AuthMethods = []string{record.AuthClientCredentials} }, ReasonAuthMethodNotAllowed, Deny},
		"key and tokens": {func(r *record.Record) { r.AuthMethods = []string{record.AuthClientCredentials, record.AuthAPIKey} }, ReasonAllowed, Permit},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t, Options{})
			k := f.issue("acme/payments/investigations:read")
			tc.change(&k.rec)
			f.publish(k)
			d := f.decide(k.key.Plaintext(), inScope, access.Environment{})
			g.Expect(d.Result).To(Equal(tc.result))
			g.Expect(d.Reason).To(Equal(tc.want))
			// The key is named only to a caller who proved its secret:
			// state and auth method are decided before that.
			if verified := tc.result == Permit || name == "not yet valid"; verified {
				g.Expect(d.KeyID).To(Equal(k.key.ID()))
				g.Expect(d.Owner).To(Equal("team-fraud"))
			} else {
				g.Expect(d.KeyID).To(BeEmpty())
				g.Expect(d.Owner).To(BeEmpty())
			}
		})
	}
}

func TestCredentialsRefusedBeforeHashing(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	other, _ := keys.Generate("")
	good := k.key.Plaintext()
	badSum := good[:len(good)-1] + flip(good[len(good)-1])

	for cred, want := range map[string]Reason{
		"":                  ReasonMalformedCredential,
		"hello":             ReasonMalformedCredential,
		badSum:              ReasonMalformedCredential,
		other.Plaintext():   ReasonUnknownKey,
		good + "x":          ReasonMalformedCredential,
		"Bearer " + good:    ReasonMalformedCredential,
		good[:len(good)-10]: ReasonMalformedCredential,
	} {
		d := f.decide(cred, inScope, access.Environment{})
		g.Expect(d.Result).To(Equal(Deny), cred)
		g.Expect(d.Reason).To(Equal(want), cred)
	}
	g.Expect(f.v.HashesRun()).To(BeZero(), "nothing malformed or unknown is hashed")
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestVerifiedKeysAreCachedPerRecordVersion(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)

	for range 5 {
		g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
	}
	g.Expect(f.v.HashesRun()).To(Equal(int64(1)), "one hash, then the cache")

	k.rec.Version++ // any change of the record drops what was cached about it
	f.publish(k)
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
	g.Expect(f.v.HashesRun()).To(Equal(int64(2)))

	// A revocation applies to the next request, cached or not.
	now := f.clock.Now()
	k.rec.State, k.rec.Secrets, k.rec.RevokedAt, k.rec.Version = record.Revoked, nil, &now, k.rec.Version+1
	f.publish(k)
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Reason).To(Equal(ReasonRevoked))

	f.index.Remove(record.SecretName(k.key.ID()))
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Reason).To(Equal(ReasonUnknownKey))
}

func TestRotationGracePeriod(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	old := k.key
	g.Expect(f.decide(old.Plaintext(), inScope, access.Environment{}).Secret).To(Equal(SecretCurrent))

	next := f.rotate(k, time.Hour)
	f.publish(k)
	d := f.decide(old.Plaintext(), inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Permit))
	g.Expect(d.Secret).To(Equal(SecretPrevious))
	g.Expect(f.decide(next.Plaintext(), inScope, access.Environment{}).Secret).To(Equal(SecretCurrent))

	// The grace period ends by the clock, before the manager removes the
	// old hash: cached or not, the old secret stops working on time.
	f.clock.Step(time.Hour)
	g.Expect(f.decide(old.Plaintext(), inScope, access.Environment{}).Reason).To(Equal(ReasonSecretExpired))
	g.Expect(f.decide(next.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
}

func TestScopesAndAccessConditions(t *testing.T) {
	f := newFixture(t, Options{Classes: mustClasses(t, map[string][]string{"corporate": {"10.0.0.0/8"}})})
	k := f.issue("acme/payments/investigations:read", "acme/payments/evidence:admin")
	k.rec.Conditions = access.Conditions{
		SourceCIDRs: []string{"10.0.0.0/8", "192.0.2.0/24"},
		TimeWindows: []access.TimeWindow{{Days: []string{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "08:00", End: "18:00", TimeZone: "Europe/Berlin"}},
		Countries:   []string{"DE", "NL"},
		Networks:    []string{"corporate"},

		RequireCompliantDevice: true,
	}
	f.publish(k)
	ok := access.Environment{Address: addr("10.1.2.3"), Country: "DE", Device: access.DeviceCompliant}
	with := func(change func(*access.Environment)) access.Environment {
		e := ok
		change(&e)
		return e
	}
	tests := map[string]struct {
		scope string
		env   access.Environment
		want  Reason
	}{
		"in scope, every condition met":  {inScope, ok, ReasonAllowed},
		"admin implies delete":           {"acme/payments/evidence/EV-1:delete", ok, ReasonAllowed},
		"another project":                {"acme/hr/investigations:read", ok, ReasonInsufficientScope},
		"write with a read scope":        {"acme/payments/investigations:write", ok, ReasonInsufficientScope},
		"outside the CIDRs":              {inScope, with(func(e *access.Environment) { e.Address = addr("203.0.113.9") }), ReasonSourceNotAllowed},
		"unknown address":                {inScope, with(func(e *access.Environment) { e.Address = addr("0.0.0.0").Prev() }), ReasonSourceNotAllowed},
		"allowed CIDR, not in the class": {inScope, with(func(e *access.Environment) { e.Address = addr("192.0.2.7") }), ReasonNetworkNotAllowed},
		"another country":                {inScope, with(func(e *access.Environment) { e.Country = "FR" }), ReasonCountryNotAllowed},
		"no country header":              {inScope, with(func(e *access.Environment) { e.Country = "" }), ReasonCountryNotAllowed},
		"Sunday":                         {inScope, with(func(e *access.Environment) { e.Time = t0.Add(-24 * time.Hour) }), ReasonOutsideTimeWindow},
		"after hours in Berlin":          {inScope, with(func(e *access.Environment) { e.Time = t0.Add(7 * time.Hour) }), ReasonOutsideTimeWindow},
		"non-compliant device":           {inScope, with(func(e *access.Environment) { e.Device = access.DeviceNonCompliant }), ReasonDeviceNotCompliant},
		"device unknown":                 {inScope, with(func(e *access.Environment) { e.Device = access.DeviceUnknown }), ReasonDeviceNotCompliant},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			d := f.decide(k.key.Plaintext(), tc.scope, tc.env)
			g.Expect(d.Reason).To(Equal(tc.want))
			if tc.want == ReasonAllowed {
				g.Expect(d.Result).To(Equal(Permit))
				g.Expect(d.MatchedScope).NotTo(BeEmpty())
			} else {
				g.Expect(d.Result).To(Equal(Deny))
				g.Expect(d.RequiredScope).To(Equal(tc.scope))
			}
		})
	}
}

func mustClasses(t *testing.T, m map[string][]string) access.Classes {
	t.Helper()
	c, err := access.ParseClasses(m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBackoffOfRepeatedFailures(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{FreeFailures: 2, BackoffBase: time.Second, BackoffMax: time.Minute})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	// The legitimate client verified before the attack: its key is cached.
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))

	attacker := access.Environment{Address: addr("198.51.100.1")}
	for range 3 {
		wrong, _ := keys.Generate(k.key.ID())
		g.Expect(f.decide(wrong.Plaintext(), inScope, attacker).Reason).To(Equal(ReasonInvalidSecret))
	}
	hashed := f.v.HashesRun()
	for range 50 {
		wrong, _ := keys.Generate(k.key.ID())
		d := f.decide(wrong.Plaintext(), inScope, attacker)
		g.Expect(d.Reason).To(Equal(ReasonTooManyFailures))
		g.Expect(d.RetryAfter).NotTo(BeNil())
	}
	g.Expect(f.v.HashesRun()).To(Equal(hashed), "backoff refuses without hashing")
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit), "a cached key is unaffected")

	// The same attacker is slowed down on other keys too (per address).
	k2 := f.issue("acme/payments/investigations:read")
	f.publish(k2)
	wrong, _ := keys.Generate(k2.key.ID())
	g.Expect(f.decide(wrong.Plaintext(), inScope, attacker).Reason).To(Equal(ReasonTooManyFailures))

	f.clock.Step(time.Minute + time.Second)
	g.Expect(f.decide(k2.key.Plaintext(), inScope, attacker).Result).To(Equal(Permit), "backoff ends")
}

func TestConcurrentIdenticalAttemptsShareOneHash(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	f.v.hashes.onRun = func() {
		started <- struct{}{}
		<-release
	}
	const n = 8
	var wg sync.WaitGroup
	results := make([]Decision, n)
	wg.Add(1)
	go func() { defer wg.Done(); results[0] = f.decide(k.key.Plaintext(), inScope, access.Environment{}) }()
	<-started
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = f.decide(k.key.Plaintext(), inScope, access.Environment{}) }()
	}
	g.Eventually(f.v.hashes.joined.Load).WithTimeout(10 * time.Second).Should(Equal(int64(n - 1)))
	close(release)
	wg.Wait()
	for _, d := range results {
		g.Expect(d.Result).To(Equal(Permit))
	}
	g.Expect(f.v.HashesRun()).To(Equal(int64(1)))
}

func TestHashingIsBounded(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{HashConcurrency: 1, HashQueue: 1, HashWait: time.Hour})
	keysIssued := make([]*issued, 3)
	for i := range keysIssued {
		keysIssued[i] = f.issue("acme/payments/investigations:read")
		f.publish(keysIssued[i])
	}
	release := make(chan struct{})
	started := make(chan struct{}, 3)
	f.v.hashes.onRun = func() { started <- struct{}{}; <-release }
	done := make(chan Decision, 2)
	go func() { done <- f.decide(keysIssued[0].key.Plaintext(), inScope, access.Environment{}) }()
	<-started // one hashing, holding the only slot
	go func() { done <- f.decide(keysIssued[1].key.Plaintext(), inScope, access.Environment{}) }()
	g.Eventually(f.v.hashes.waiting.Load).Should(Equal(int64(1)))
	// The queue is full: a third distinct key is not queued.
	d := f.decide(keysIssued[2].key.Plaintext(), inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Indeterminate))
	g.Expect(d.Reason).To(Equal(ReasonHashingBusy))
	close(release)
	g.Expect((<-done).Result).To(Equal(Permit))
	g.Expect((<-done).Result).To(Equal(Permit))
}

func TestReadinessAndStaleness(t *testing.T) {
	g := NewWithT(t)
	ready := false
	var contact time.Time
	f := newFixture(t, Options{Ready: func() bool { return ready }, LastContact: func() time.Time { return contact }, MaxStaleness: time.Minute})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Reason).To(Equal(ReasonNotReady))
	ready, contact = true, f.clock.Now()
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
	f.clock.Step(time.Minute + time.Second)
	d := f.decide(k.key.Plaintext(), inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Indeterminate))
	g.Expect(d.Reason).To(Equal(ReasonStale))
}

func TestRandomKeyFloodRunsNoHash(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	for range 10 {
		f.publish(f.issue("acme/payments/investigations:read"))
	}
	for range 2000 {
		k, _ := keys.Generate("")
		g.Expect(f.v.Decide(context.Background(), Request{Credential: k.Plaintext()}).Reason).To(Equal(ReasonUnknownKey))
	}
	g.Expect(f.v.HashesRun()).To(BeZero())
}

func TestPreviousSecretIssuedInTheSameSecond(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	k := f.issue("acme/payments/investigations:read")
	k.rec.Secrets[0].NotBefore = t0
	k.rec.Secrets[0].Serial = "z" // sorts after the new secret's serial
	old := k.key
	next := f.rotate(k, time.Hour)
	k.rec.Secrets[1].Serial = "a"
	record.SortSecrets(k.rec.Secrets)
	f.publish(k)
	g.Expect(f.decide(old.Plaintext(), inScope, access.Environment{}).Secret).To(Equal(SecretPrevious))
	g.Expect(f.decide(next.Plaintext(), inScope, access.Environment{}).Secret).To(Equal(SecretCurrent))
}

// Failures count against the (key ID, client) pair and the client, never
// the key ID alone: a stranger failing with a key's ID slows down only
// itself, also when no client sends an address.
func TestBackoffNeverLocksOutAKeyForOthers(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{FreeFailures: 2, BackoffBase: time.Minute, BackoffMax: time.Hour})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	ask := func(cred string, env access.Environment, peer string) Decision {
		r, a := resourceOf(scope.MustParse(inScope))
		req := Request{Credential: cred, Resource: r, Action: a, Env: env}
		if peer != "" {
			req.Peer = addr(peer)
		}
		return f.v.Decide(context.Background(), req)
	}
	for _, attack := range []struct {
		name           string
		mallory, owner access.Environment
		mPeer, oPeer   string
	}{
		{"other addresses", access.Environment{Address: addr("198.51.100.1")}, access.Environment{Address: addr("203.0.113.2")}, "10.0.0.1", "10.0.0.1"},
		{"no addresses, other peers", access.Environment{}, access.Environment{}, "10.0.0.1", "10.0.0.2"},
		{"other IPv6 /64s", access.Environment{Address: addr("2001:db8:1:1::1")}, access.Environment{Address: addr("2001:db8:1:2::1")}, "", ""},
	} {
		k := f.issue("acme/payments/investigations:read")
		f.publish(k)
		for range 10 {
			wrong, _ := keys.Generate(k.key.ID())
			g.Expect(ask(wrong.Plaintext(), attack.mallory, attack.mPeer).Result).To(Equal(Deny), attack.name)
		}
		g.Expect(ask(k.key.Plaintext(), attack.mallory, attack.mPeer).Reason).To(Equal(ReasonTooManyFailures), "%s: the guesser is slowed down", attack.name)
		g.Expect(ask(k.key.Plaintext(), attack.owner, attack.oPeer).Result).To(Equal(Permit), "%s: the owner's first use is not", attack.name)
	}
	g.Expect(f.v.byKeySrc.len()).To(BeNumerically("<=", 3))
}

// Guesses that arrive together when a backoff delay runs out get one hash
// between them, not one each: the others are refused while it runs.
func TestConcurrentGuessesAfterABackoffGetOneHash(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{FreeFailures: 1, BackoffBase: time.Second, BackoffMax: time.Minute})
	k := f.issue("acme/payments/investigations:read")
	f.publish(k)
	attacker := access.Environment{Address: addr("192.0.2.66")}
	guess := func() Decision { return f.decide(mustGenerate(t, k.key.ID()).Plaintext(), inScope, attacker) }
	g.Expect(guess().Reason).To(Equal(ReasonInvalidSecret))
	g.Expect(guess().Reason).To(Equal(ReasonInvalidSecret))
	g.Expect(guess().Reason).To(Equal(ReasonTooManyFailures))
	f.clock.Step(2 * time.Second)

	release := make(chan struct{})
	started := make(chan struct{}, 1)
	f.v.hashes.onRun = func() {
		started <- struct{}{}
		<-release
	}
	before := f.v.HashesRun()
	first := make(chan Decision, 1)
	go func() { first <- guess() }()
	<-started
	for range 8 {
		d := guess()
		g.Expect(d.Reason).To(Equal(ReasonTooManyFailures), "refused while the admitted guess is hashed")
		g.Expect(d.RetryAfter).To(BeNil(), "no time to name: the guess in flight decides it")
	}
	close(release)
	g.Expect((<-first).Reason).To(Equal(ReasonInvalidSecret))
	g.Expect(f.v.HashesRun() - before).To(Equal(int64(1)))

	// The key's own client, from elsewhere, was never held back.
	g.Expect(f.decide(k.key.Plaintext(), inScope, access.Environment{Address: addr("10.1.2.3")}).Result).To(Equal(Permit))
}
