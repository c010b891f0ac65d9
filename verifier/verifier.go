package verifier

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/geoip"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// Verifier decides requests against the records in its Index.
type Verifier struct {
	index *Index
	clock clock.PassiveClock
	// realClock is whether clock is the real one (see nowAt).
	realClock bool
	mac       *macer
	cache     *verifiedCache
	hashes    *hasher
	// Failures back off per (key ID, source) and per source: never per key
	// ID alone, which would let anyone lock a key out by failing with it.
	byKeySrc *backoff
	bySrc    *backoff
	classes  access.Classes
	limits   *limiter
	metrics  *Metrics
	audit    *accessLog
	log      logr.Logger
	// tokens is nil unless OAuth is configured; JWTs are then refused.
	tokens *Tokens
	// authorities are the CAs certificate bindings name (nil: none);
	// certs caches certificates that verified.
	authorities  *Authorities
	certs        *certCache
	ambiguousLog logThrottle
	// leaks receives leaked-key reports (nil: none); leaked are the keys
	// this replica confirmed leaked.
	leaks  *LeakReports
	leaked leakedTokens
	// activity counts each key's use for the activity reports (nil:
	// analytics off); analytics is its configuration.
	activity  *activity
	analytics analyticsPlan
	// geo places client addresses in countries (nil: no database).
	geo *geoip.DB

	hashWait time.Duration
	// ready and lastContact come from the record watch, signingContact
	// from the signing-key watch; maxStaleness bounds how long the
	// verifier permits without knowing its records current, and accepts
	// or issues tokens without knowing its signing keys current.
	ready          func() bool
	lastContact    func() time.Time
	signingContact func() time.Time
	maxStaleness   time.Duration
}

// Options configure a Verifier; zero values take the documented defaults.
type Options struct {
	Clock   clock.PassiveClock
	Classes access.Classes
	Metrics *Metrics
	Audit   AccessLog
	Log     logr.Logger
	// Tokens, when set, lets the verifier issue and accept JWTs. With a
	// Redis rate-limit store, its assertion replay cache moves to that
	// Redis, shared by every replica.
	Tokens *Tokens
	// Authorities are the CAs that client-certificate bindings may name
	// (LoadAuthorities). Without them only bindings by thumbprint alone
	// can verify.
	Authorities *Authorities
	// LeakReports, when set, serves leaked-key reports on the public port
	// (NewLeakReports).
	LeakReports *LeakReports

	// HashConcurrency bounds PBKDF2 computations at once (default: half
	// the CPUs, at least one), leaving the rest to cached traffic.
	HashConcurrency int
	// HashQueue bounds verifications waiting for a slot (default 64).
	HashQueue int
	// HashWait bounds how long one request waits for a slot (default 1s).
	HashWait time.Duration
	// CacheSize caps the verified-key cache (default 100,000).
	CacheSize int
	// Backoff of repeated failures: FreeFailures without delay (default 3),
	// then BackoffBase doubling up to BackoffMax (defaults 1s and 5m), for at
	// most BackoffTracked identifiers per kind (default 100,000).
	FreeFailures   int
	BackoffBase    time.Duration
	BackoffMax     time.Duration
	BackoffTracked int

	// RateLimits configures the counters of keys' limits and the
	// pre-authentication limiter (defaults: in memory).
	RateLimits RateLimits
	// Analytics configures the counting of each key's use (default: on,
	// reported in a ConfigMap).
	Analytics AnalyticsConfig
	// GeoIP, when set, places requests without a trusted country in one
	// by their client address (LoadGeoIP).
	GeoIP *geoip.DB

	// Ready reports whether the records are loaded (the first sync).
	Ready func() bool
	// LastContact is when the records were last known current (the
	// record watch's), SigningLastContact when the signing keys were (the
	// signing-key watch's), and MaxStaleness how long the verifier may
	// permit after either (0: forever). Stale signing keys stop only what
	// rests on them: tokens, the JWKS and the token endpoint.
	LastContact        func() time.Time
	SigningLastContact func() time.Time
	MaxStaleness       time.Duration
}

// New returns a Verifier over index.
func New(index *Index, o Options) (*Verifier, error) {
	if index == nil {
		return nil, errors.New("verifier: nil index")
	}
	mac, err := newMacer()
	if err != nil {
		return nil, fmt.Errorf("verifier: drawing the cache key: %w", err)
	}
	o = o.withDefaults()
	plan, err := o.Analytics.compile(o.RateLimits)
	if err != nil {
		return nil, err
	}
	limits, err := newLimiter(o.RateLimits, o.Log)
	if err != nil {
		return nil, err
	}
	_, realClock := o.Clock.(clock.RealClock)
	v := &Verifier{
		realClock: realClock,
		limits:    limits, tokens: o.Tokens, leaks: o.LeakReports, authorities: o.Authorities, certs: newCertCache(o.CacheSize),
		index: index, clock: o.Clock, mac: mac, classes: o.Classes, metrics: o.Metrics, audit: o.Audit.start(), log: o.Log,
		cache:    newVerifiedCache(o.CacheSize),
		hashes:   newHasher(o.HashConcurrency, o.HashQueue),
		byKeySrc: newBackoff(o.FreeFailures, o.BackoffBase, o.BackoffMax, o.BackoffTracked),
		bySrc:    newBackoff(o.FreeFailures, o.BackoffBase, o.BackoffMax, o.BackoffTracked),
		hashWait: o.HashWait, ready: o.Ready, lastContact: o.LastContact, signingContact: o.SigningLastContact, maxStaleness: o.MaxStaleness,
		analytics: plan, geo: o.GeoIP,
	}
	if plan.enabled {
		v.activity = newActivity(plan.maxKeys)
	}
	v.hashes.onRun = v.metrics.hashes.Inc
	index.changed = func(keyID string) {
		v.cache.forget(keyID)
		v.certs.forget(keyID)
	}
	index.collided = func(keyIDs []string) {
		// Key IDs only: the lookup ID is a MAC of a key, and the key
		// itself is never known here.
		v.log.Info("several keys share a foreign key's lookup ID; the foreign key is refused for all of them", "keyIDs", keyIDs)
	}
	v.metrics.observe(index, v.cache)
	if v.tokens != nil {
		if limits.redis != nil {
			v.tokens.shareReplay(limits.redis, replayPrefix(limits.redisPrefix))
		}
		v.tokens.observe(v.metrics)
	}
	v.metrics.observeLimits(limits)
	v.metrics.observeActivity(v.activity)
	return v, nil
}

// Close writes the denials counted so far and releases the connection to
// a shared rate-limit store.
func (v *Verifier) Close() error {
	v.audit.flush()
	return v.limits.Close()
}

// HashesRun is how many PBKDF2 comparisons this verifier computed.
func (v *Verifier) HashesRun() int64 { return v.hashes.runs.Load() }

// Decide answers one request. It never returns Permit without a verified
// credential whose scopes and conditions allow the request.
func (v *Verifier) Decide(ctx context.Context, req Request) Decision {
	start := time.Now()
	now := v.nowAt(start)
	d := v.decide(ctx, req, now)
	took := time.Since(start)
	v.metrics.decided(d, took)
	v.countActivity(d, req.Env, now, took)
	if d.Result != Permit {
		v.audit.denied(now, req, d)
	}
	return d
}

// nowAt is the verifier's clock at start, a reading of the real clock:
// with the real clock, start itself, since every reading costs a little
// on each request.
func (v *Verifier) nowAt(start time.Time) time.Time {
	if v.realClock {
		return start
	}
	return v.clock.Now()
}

// refuse records a decision made before the verifier was asked (a request
// the handler could not map), as Decide records its own.
func (v *Verifier) refuse(req Request, d Decision) Decision {
	v.metrics.decided(d, 0)
	v.audit.denied(v.clock.Now(), req, d)
	return d
}

func (v *Verifier) decide(ctx context.Context, req Request, now time.Time) Decision {
	if !v.ready() {
		return indeterminate(ReasonNotReady, "the verifier has not loaded its key records and signing keys yet")
	}
	if v.stale(now) {
		return indeterminate(ReasonStale, "the verifier has not known its key records current for too long to permit anything")
	}
	if req.ClientCertificateErr != nil {
		return deny(ReasonMalformedCertificate, req.ClientCertificateErr.Error())
	}
	var d Decision
	switch req.CredentialProblem {
	case CredentialMissing:
		if !req.ClientCertificate.Present() {
			return deny(ReasonMissingCredential, "no credential was presented")
		}
		d = v.authenticateCertificate(req, now)
	case CredentialMalformed:
		return deny(ReasonMalformedRequest, "the credential headers are not a single Bearer credential or API-key header")
	default:
		d = v.authenticate(ctx, req, now)
		// Every credential of such a key: its secret, an assertion signed
		// by a key enrolled for it, or a token issued to it.
		if d.Result == Permit {
			if err := v.requireBoundCertificate(d.entry, req.ClientCertificate, now); err != nil {
				return identified(err.decision(), d.entry)
			}
		}
	}
	if d.Result != Permit {
		return d
	}
	if d = v.authorize(d, req, now); d.Result != Permit {
		return d
	}
	return v.spend(ctx, d, req, now)
}

// stale reports whether the records have not been known current for
// longer than the staleness bound, signingStale the same of the signing
// keys: one bound, counted from each watch's own contact (catchup.go).
func (v *Verifier) stale(now time.Time) bool { return v.pastBound(v.lastContact, now) }

func (v *Verifier) signingStale(now time.Time) bool { return v.pastBound(v.signingContact, now) }

func (v *Verifier) pastBound(lastContact func() time.Time, now time.Time) bool {
	return v.maxStaleness > 0 && now.Sub(lastContact()) > v.maxStaleness
}

func (v *Verifier) authenticate(ctx context.Context, req Request, now time.Time) Decision {
	if keys.LooksLikeJWT(req.Credential) {
		return v.authenticateJWT(ctx, req, now)
	}
	key, e, lookupID, d, ok := v.presentedKey(req.Credential)
	if !ok {
		return d
	}
	if d, ok := stateDenial(e, now); !ok {
		return d
	}
	// A key bound to a certificate it must come with is checked for it
	// once its secret verifies (decide).
	if !req.tokenRequest && !e.Record.Allows(record.AuthAPIKey) && !requiresCertificate(e) {
		return withKey(deny(ReasonAuthMethodNotAllowed, "this key may not be sent with requests; see its spec.authMethods"), e)
	}
	mac := v.mac.sum(req.Credential)
	if v.leaked.has(mac) {
		return withKey(deny(ReasonRevoked, "the key was reported leaked"), e)
	}
	if hit, ok := v.cache.get(mac, e.Record.KeyID, e.Record.Version); ok {
		v.metrics.cacheHits.Inc()
		return secretDecision(e, hit.serial, now)
	}
	v.metrics.cacheMisses.Inc()
	src := sourceID(req.Env.Address, req.Peer)
	keySrc := e.Record.KeyID + " " + src
	until, admitted := v.byKeySrc.admit(keySrc, now)
	if admitted {
		if until, admitted = v.bySrc.admit(src, now); !admitted {
			v.byKeySrc.done(keySrc)
		}
	}
	if !admitted {
		d := withKey(deny(ReasonTooManyFailures, "too many failed attempts; try again later"), e)
		if !until.IsZero() {
			d.RetryAfter = &until
		}
		return d
	}
	// Whatever ends the attempt without a verdict on the secret leaves the
	// allowance as it was.
	verdict := false
	defer func() {
		if !verdict {
			v.byKeySrc.done(keySrc)
			v.bySrc.done(src)
		}
	}()
	if v.bySrc.full(src, now) {
		return withKey(indeterminate(ReasonHashingBusy, "too many clients are failing verification; try again later"), e)
	}
	if d, ok := v.preAuthorize(ctx, e, src, now); !ok {
		return d
	}
	secrets := secretsFor(e, lookupID)
	hctx, cancel := context.WithTimeout(ctx, v.hashWait)
	defer cancel()
	serial, err := v.hashes.match(hctx, string(mac[:])+fmt.Sprint(e.Record.Version), key, secrets)
	switch {
	case errors.Is(err, keys.ErrHashNotAllowed):
		return withKey(indeterminate(ReasonHashNotAllowed, "the key's stored hash is not allowed in FIPS mode; rotate the key"), e)
	case err != nil:
		return withKey(indeterminate(ReasonHashingBusy, "the key could not be verified right now; try again"), e)
	}
	verdict = true
	if serial == "" {
		v.byKeySrc.fail(keySrc, now)
		v.bySrc.fail(src, now)
		return withKey(deny(ReasonInvalidSecret, "the key is not valid"), e)
	}
	v.byKeySrc.succeed(keySrc)
	v.bySrc.done(src)
	if v.cache.put(mac, verified{keyID: e.Record.KeyID, version: e.Record.Version, serial: serial}) {
		v.audit.firstUse(now, e, serial)
	}
	return secretDecision(e, serial, now)
}

// stateDenial applies the record's state and expiry, which need no secret.
func stateDenial(e *Entry, now time.Time) (Decision, bool) {
	r := &e.Record
	switch {
	case r.State == record.Revoked:
		return withKey(deny(ReasonRevoked, "the key was revoked"), e), false
	case r.State == record.Expired || (r.ExpiresAt != nil && !now.Before(*r.ExpiresAt)):
		return withKey(deny(ReasonExpired, "the key has expired"), e), false
	case r.State == record.Suspended:
		return withKey(deny(ReasonSuspended, "the key is suspended"), e), false
	case r.State == record.Issuing:
		return withKey(deny(ReasonNotYetValid, "the key is being issued and does not verify yet"), e), false
	case r.State != record.Active:
		return withKey(deny(ReasonRevoked, "the key is not active"), e), false
	}
	return Decision{}, true
}

// secretDecision checks the validity window of the matched secret.
func secretDecision(e *Entry, serial string, now time.Time) Decision {
	s, ok := e.Record.BySerial(serial)
	if !ok {
		return withKey(deny(ReasonInvalidSecret, "the key is not valid"), e)
	}
	if now.Before(s.NotBefore) {
		return identified(deny(ReasonNotYetValid, "the key is not valid yet"), e)
	}
	if s.NotAfter != nil && !now.Before(*s.NotAfter) {
		return identified(deny(ReasonSecretExpired, "this secret was replaced and its grace period has ended; use the new key"), e)
	}
	return identified(Decision{Result: Permit, Reason: ReasonAllowed, Secret: secretKind(s)}, e)
}

// secretKind tells the secret a rotation replaced by its end of validity:
// the manager sets NotAfter only on that one. (Issue times have a resolution
// of one second, so their order cannot tell two secrets of one second apart.)
func secretKind(s record.Secret) Secret {
	if s.NotAfter != nil {
		return SecretPrevious
	}
	return SecretCurrent
}

func (v *Verifier) authorize(d Decision, req Request, now time.Time) Decision {
	e := d.entry
	matched := e.scopes.Match(req.Resource, req.Action)
	if matched < 0 {
		out := identified(deny(ReasonInsufficientScope, "the key's scopes do not allow this action on this resource"), e)
		out.RequiredScope = requiredScope(req.Resource, req.Action)
		return out
	}
	env := req.Env
	if env.Time.IsZero() {
		env.Time = now
	}
	if f := e.conds.Check(env, v.classes); f != access.Met {
		out := identified(deny(Reason(f), accessDenialMessage(f)), e)
		out.MatchedScope, out.matched = e.scopeStrings[matched], matched
		out.RequiredScope = requiredScope(req.Resource, req.Action)
		return out
	}
	d.MatchedScope, d.matched = e.scopeStrings[matched], matched
	return d
}

func accessDenialMessage(f access.Failure) string {
	switch f {
	case access.SourceNotAllowed:
		return "the key may not be used from this address"
	case access.OutsideTimeWindow:
		return "the key may not be used at this time"
	case access.CountryNotAllowed:
		return "the key may not be used from this country"
	case access.NetworkNotAllowed:
		return "the key may not be used from this network"
	case access.DeviceNotCompliant:
		return "the key may only be used from a compliant device"
	}
	return "the request does not meet the key's conditions"
}

// withKey ties a decision to the record it was made on, for the audit
// trail and the steps after it, without naming the key to the caller: the
// secret has not been verified, and a key ID is public.
func withKey(d Decision, e *Entry) Decision {
	d.entry = e
	return d
}

// identified is withKey for a caller who proved the secret (or presented a
// token this verifier signed): only then may the answer name the key and
// its owner.
func identified(d Decision, e *Entry) Decision {
	d.KeyID, d.Owner, d.entry = e.Record.KeyID, e.Record.Owner, e
	return d
}

// sourceID groups requests for backoff by the client address, else by the
// connection's peer, so that clients without a known address are not one
// pool that a single failing client locks out. An IPv6 client controls at
// least a /64, so counting single addresses would let it dodge backoff.
func sourceID(a, peer netip.Addr) string {
	kind := ""
	if !a.IsValid() {
		if a, kind = peer, "peer "; !a.IsValid() {
			return "unknown"
		}
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return kind + p.String()
	}
	return kind + a.String()
}
