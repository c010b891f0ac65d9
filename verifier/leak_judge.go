package verifier

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/leak"
	"github.com/keyward-dev/keyward/internal/record"
)

var errLeakSinkMissing = errors.New("leak reports need a sink for verified leaks")

// errForgeryBudget: the key ID had its share of forgeries hashed lately.
var errForgeryBudget = errors.New("too many forged tokens of this key were reported lately")

// errNeedsHashing: the token can be decided only by hashing it.
var errNeedsHashing = errors.New("the token needs hashing")

// judgeLeak labels one reported token and, when it is a live key's secret,
// has the key revoked: denied here at once, and by every replica once the
// manager has acted on the report. A token is a true positive only when
// its secret verifies against its key's record, so that nobody can have a
// key revoked by publishing its (public) key ID with a made-up secret.
//
// Without mayHash, a token that needs hashing returns errNeedsHashing, so
// that a report's free decisions are made before any is paid for. Any
// other error means the token could not be decided (no idle hashing slot
// in time, the key's forgery budget spent, or the report not written):
// the reporter should send it again.
func (v *Verifier) judgeLeak(ctx context.Context, t reportedToken, mayHash bool) (string, error) {
	key, err := keys.Parse(t.Token)
	if err != nil {
		return LabelFalsePositive, nil
	}
	e, ok := v.index.Lookup(key.ID())
	if !ok {
		return LabelFalsePositive, nil
	}
	mac := v.mac.sum(t.Token)
	if rep, written, ok := v.leaked.get(mac); ok {
		if !written {
			// The first report was denied here but not handed on:
			// this is GitHub sending it again after a 503.
			return v.handOn(ctx, mac, rep)
		}
		return LabelTruePositive, nil
	}
	if v.leaked.forged(mac, e.Record.KeyID, e.Record.Version) {
		return LabelFalsePositive, nil
	}
	serial, err := v.matchSecret(ctx, e, key, mac, mayHash)
	if err != nil {
		return "", err
	}
	if serial == "" {
		v.leaked.addForged(mac, e.Record.KeyID, e.Record.Version)
		// Also a revoked key: its record keeps no hash, so a token of
		// it cannot be told from a forgery (see docs/leaks.md).
		return LabelFalsePositive, nil
	}
	if !v.stillAccepted(e, serial) {
		// A real secret, but one nothing accepts any more: nothing to do.
		return LabelTruePositive, nil
	}
	url, source, typ := t.bounded()
	rep := leak.Report{
		KeyID: e.Record.KeyID, Serial: serial, TokenSHA256: tokenSHA256(t.Token),
		URL: url, Source: source, Type: typ, ReportedAt: v.leaks.clock.Now(),
	}
	// Denied here first: handing the report on is an API call.
	v.leaked.add(mac, rep)
	v.cache.forget(e.Record.KeyID)
	return v.handOn(ctx, mac, rep)
}

// stillAccepted: the key is not expired and the secret's grace period (a
// previous secret's NotAfter) has not ended, which the manager has
// perhaps not yet written into the record.
func (v *Verifier) stillAccepted(e *Entry, serial string) bool {
	now := v.clock.Now()
	if e.Record.State == record.Expired || (e.Record.ExpiresAt != nil && !now.Before(*e.Record.ExpiresAt)) {
		return false
	}
	s, ok := e.Record.BySerial(serial)
	return ok && (s.NotAfter == nil || now.Before(*s.NotAfter))
}

// handOn gives a verified leak to the sink, for the manager.
func (v *Verifier) handOn(ctx context.Context, mac macKey, rep leak.Report) (string, error) {
	if err := v.leaks.sink.Leaked(ctx, rep); err != nil {
		return "", fmt.Errorf("reporting the leak of key %s: %w", rep.KeyID, err)
	}
	v.leaked.written(mac)
	v.log.Info("a leaked key was reported and verified; it is denied here and reported to the manager",
		"keyID", rep.KeyID, "url", rep.URL)
	return LabelTruePositive, nil
}

// matchSecret returns the serial of the record's secret key is, "" for
// none, through the verified cache, else (with mayHash) by hashing in
// the time requests leave idle and within the key's forgery budget.
func (v *Verifier) matchSecret(ctx context.Context, e *Entry, key keys.Key, mac macKey, mayHash bool) (string, error) {
	if hit, ok := v.cache.get(mac, e.Record.KeyID, e.Record.Version); ok {
		return hit.serial, nil
	}
	if len(e.Record.Secrets) == 0 {
		return "", nil
	}
	if !mayHash {
		return "", errNeedsHashing
	}
	if !v.leaked.mayHash(e.Record.KeyID, v.clock.Now()) {
		return "", fmt.Errorf("verifying a reported key of %s: %w", e.Record.KeyID, errForgeryBudget)
	}
	secrets := make([]secretHash, 0, len(e.Record.Secrets))
	for _, s := range e.Record.Secrets {
		secrets = append(secrets, secretHash{serial: s.Serial, hash: s.Hash})
	}
	// Its own flight: a request must never wait on a computation that
	// waits for requests to leave a slot idle.
	serial, err := v.hashes.matchWhenIdle(ctx, "leak/"+string(mac[:])+fmt.Sprint(e.Record.Version), key, secrets)
	if err != nil {
		return "", fmt.Errorf("verifying a reported key of %s: %w", e.Record.KeyID, err)
	}
	return serial, nil
}

// Reported tokens of one key ID hashed per window: a key's ID is public, and
// each forgery published with it costs a PBKDF2 computation. Past the
// budget its tokens are left undecided (the report is answered 503 and
// sent again), never labelled unchecked: a thief could otherwise shield
// a real leak behind forgeries.
const (
	forgeriesPerKey = 10
	forgeryWindow   = 10 * time.Minute
	// maxForgeryBudgets bounds the key IDs tracked; emptied when full.
	maxForgeryBudgets = 10_000
)

type forgeryBudget struct {
	since time.Time
	spent int
}

// maxLeakedTokens caps the tokens a replica denies on its own: each is a
// verified secret of a live key, so reaching the cap takes that many real
// leaks; past it the manager's revocation alone denies them.
const maxLeakedTokens = 100_000

// leakedTokens are the keys this replica confirmed leaked, by the HMAC the
// verified cache uses, denied before the manager's revocation arrives,
// with their report until the sink has taken it.
type leakedTokens struct {
	mu  sync.RWMutex
	set map[macKey]*leakedToken
	// any is whether set holds a token: every request with a key asks
	// has, nearly always of an empty set, and reading this writes
	// nothing the cores taking requests would contend for.
	any atomic.Bool
	// forgeries are tokens whose secret did not verify against a record
	// version, so that a report GitHub sends again after a 503 spends
	// PBKDF2 only on the tokens not yet decided. Emptied when full.
	forgeries map[macKey]recordVersion
	// budgets are the forgeries hashed per key ID in the current window.
	budgets map[string]*forgeryBudget
}

type recordVersion struct {
	keyID   string
	version int64
}

// maxForgeries bounds the remembered forgeries.
const maxForgeries = 10_000

func (l *leakedTokens) forged(m macKey, keyID string, version int64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	rv, ok := l.forgeries[m]
	return ok && rv == recordVersion{keyID, version}
}

func (l *leakedTokens) addForged(m macKey, keyID string, version int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.forgeries == nil || len(l.forgeries) >= maxForgeries {
		l.forgeries = map[macKey]recordVersion{}
	}
	l.forgeries[m] = recordVersion{keyID, version}
}

// mayHash takes one computation from keyID's budget, if any is left. It
// is taken before hashing, so that concurrent reports cannot overdraw it;
// a real leak spends one too, which only the first report of it does.
func (l *leakedTokens) mayHash(keyID string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.budgetLocked(keyID, now)
	if b.spent >= forgeriesPerKey {
		return false
	}
	b.spent++
	return true
}

// budgetLocked returns keyID's budget for the window holding now.
func (l *leakedTokens) budgetLocked(keyID string, now time.Time) *forgeryBudget {
	if l.budgets == nil || len(l.budgets) >= maxForgeryBudgets {
		l.budgets = map[string]*forgeryBudget{}
	}
	b, ok := l.budgets[keyID]
	if !ok || now.Sub(b.since) >= forgeryWindow {
		b = &forgeryBudget{since: now}
		l.budgets[keyID] = b
	}
	return b
}

type leakedToken struct {
	report  leak.Report
	written bool
}

func (l *leakedTokens) has(m macKey) bool {
	if !l.any.Load() {
		return false
	}
	_, _, ok := l.get(m)
	return ok
}

func (l *leakedTokens) get(m macKey) (leak.Report, bool, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	t, ok := l.set[m]
	if !ok {
		return leak.Report{}, false, false
	}
	return t.report, t.written, true
}

func (l *leakedTokens) add(m macKey, r leak.Report) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set == nil {
		l.set = map[macKey]*leakedToken{}
	}
	if _, ok := l.set[m]; !ok && len(l.set) < maxLeakedTokens {
		l.set[m] = &leakedToken{report: r}
		l.any.Store(true)
	}
}

func (l *leakedTokens) written(m macKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.set[m]; ok {
		t.written = true
	}
}
