package verifier

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/scope"
)

// Entry is one key record, parsed once per version so that a request only
// compares values.
type Entry struct {
	Record record.Record
	scopes scope.Set
	conds  *access.Compiled
	// scopeStrings are the canonical forms of scopes, by position.
	scopeStrings []string
	// Identity header values of a Permit, built once per record version:
	// net/http takes header values as slices.
	keyIDHeader, ownerHeader, scopesHeader []string
	matchedHeaders                         [][]string
	// plan is the key's rate limits; bucketKeys name each limit's
	// counter: the key's own, or for a shared limit its owner's within
	// the APIKey's namespace.
	plan       record.Plan
	bucketKeys []string
	// policyHeaders are the limits' RateLimit-Policy values.
	policyHeaders [][]string
	// lookupIDs are the lookup IDs of the record's foreign secrets.
	lookupIDs []string
	// certLookup is the binding's certbind lookup key, when the key may
	// authenticate with a certificate.
	certLookup string
	// generation tells this parse of a record from every other: a record
	// deleted and written again starts over at version 1, so a version
	// alone does not name what a cache verified against.
	generation uint64
}

// entryGenerations numbers Entries as they are made.
var entryGenerations atomic.Uint64

func newEntry(r record.Record) (*Entry, error) {
	set, err := scope.ParseSet(r.Scopes)
	if err != nil {
		return nil, err
	}
	conds, err := access.Compile(r.Conditions)
	if err != nil {
		return nil, err
	}
	e := &Entry{
		Record: r, scopes: set, conds: conds, scopeStrings: set.Strings(),
		keyIDHeader: []string{r.KeyID}, ownerHeader: []string{r.Owner},
		generation: entryGenerations.Add(1),
	}
	if e.plan, err = r.RateLimit.Compile(); err != nil {
		return nil, err
	}
	for _, l := range e.plan.Limits {
		e.policyHeaders = append(e.policyHeaders, policyHeader(l))
	}
	for _, shared := range e.plan.SharedByOwner {
		if shared {
			e.bucketKeys = append(e.bucketKeys, ownerBucket(r))
		} else {
			e.bucketKeys = append(e.bucketKeys, "k:"+r.KeyID)
		}
	}
	e.lookupIDs = r.LookupIDs()
	if r.ClientCertificate != nil && r.Allows(record.AuthMutualTLS) {
		e.certLookup = r.ClientCertificate.LookupKey()
	}
	e.scopesHeader = []string{strings.Join(e.scopeStrings, " ")}
	for _, s := range e.scopeStrings {
		e.matchedHeaders = append(e.matchedHeaders, []string{s})
	}
	return e, nil
}

// ownerBucket names the counter of limits shared by an owner. An owner is
// a claim made in one namespace (KeyPolicies bind it per namespace, if at
// all), so two teams naming the same owner must never spend from one
// counter: the namespace is part of the name. Neither a namespace nor an
// owner can contain "/", so no two pairs share a name.
func ownerBucket(r record.Record) string {
	return "o:" + r.APIKey.Namespace + "/" + r.Owner
}

// Index holds the records the verifier enforces, by key ID. Watch events
// change it synchronously, so a change applies to the next request after
// its event.
type Index struct {
	mu   sync.RWMutex
	byID map[string]*Entry
	// live is byID for Lookup, which every request makes: a sync.Map's
	// reads write nothing shared, where a read lock is a write that the
	// cores taking requests contend for. Written with byID, under mu.
	live     sync.Map          // key ID → *Entry
	idBySecr map[string]string // record Secret name → key ID
	// byCert finds the keys bound to a certificate: binding lookup key
	// (certbind.Binding.LookupKey) → key IDs. One entry per bound record
	// that may still verify, so it is as bounded as the records; revoked
	// and expired ones are left out, so that claims nobody can use any
	// more crowd no certificate's candidates.
	byCert map[string]map[string]struct{}
	// byLookup finds the record of a foreign key by its lookup ID: lookup
	// ID → key IDs, for records that may still verify, like byCert. More
	// than one key ID is a collision, and none of them is chosen.
	byLookup map[string]map[string]struct{}
	// lookupKey computes lookup IDs; nil until the manager's lookup key
	// is loaded, and then no foreign key is found.
	lookupKey *keys.LookupKey

	// collided is told the key IDs sharing a lookup ID when a record
	// makes them collide, so that an operator learns which keys refuse.
	collided func(keyIDs []string)
	// changed is told the key ID of every record that changed or went,
	// so caches can drop what they hold about it.
	changed func(keyID string)
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{byID: map[string]*Entry{}, idBySecr: map[string]string{}, byCert: map[string]map[string]struct{}{}, byLookup: map[string]map[string]struct{}{}}
}

// Lookup returns the entry of a key ID.
func (ix *Index) Lookup(keyID string) (*Entry, bool) {
	e, ok := ix.live.Load(keyID)
	if !ok {
		return nil, false
	}
	return e.(*Entry), true
}

// Len is the number of records loaded.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byID)
}

// Put loads the record carried by the named Secret. A record that does not
// decode removes whatever the Secret held before: the verifier fails closed
// rather than enforcing an outdated version of a key.
func (ix *Index) Put(secretName string, data []byte) error {
	r, err := record.Decode(data)
	var e *Entry
	if err == nil {
		e, err = newEntry(r)
	}
	if err == nil && record.SecretName(r.KeyID) != secretName {
		err = fmt.Errorf("record of key %s is in Secret %q, not %q", r.KeyID, secretName, record.SecretName(r.KeyID))
	}
	if err != nil {
		ix.Remove(secretName)
		return fmt.Errorf("record Secret %q: %w", secretName, err)
	}
	ix.mu.Lock()
	old, had := ix.byID[r.KeyID]
	if had {
		ix.unbindLocked(old)
	}
	ix.byID[r.KeyID] = e
	ix.live.Store(r.KeyID, e)
	ix.idBySecr[secretName] = r.KeyID
	ix.bindLocked(e)
	collisions := ix.collisionsLocked(e)
	ix.mu.Unlock()
	for _, ids := range collisions {
		if ix.collided != nil {
			ix.collided(ids)
		}
	}
	if had && ix.changed != nil {
		ix.changed(r.KeyID)
	}
	return nil
}

// Remove forgets the record of the named Secret.
func (ix *Index) Remove(secretName string) {
	ix.mu.Lock()
	id, ok := ix.idBySecr[secretName]
	if ok {
		if e, had := ix.byID[id]; had {
			ix.unbindLocked(e)
		}
		delete(ix.idBySecr, secretName)
		delete(ix.byID, id)
		ix.live.Delete(id)
	}
	ix.mu.Unlock()
	if ok && ix.changed != nil {
		ix.changed(id)
	}
}

func (ix *Index) bindLocked(e *Entry) {
	if e.Record.State == record.Revoked || e.Record.State == record.Expired {
		return
	}
	if e.certLookup != "" {
		addTo(ix.byCert, e.certLookup, e.Record.KeyID)
	}
	for _, id := range e.lookupIDs {
		addTo(ix.byLookup, id, e.Record.KeyID)
	}
}

func (ix *Index) unbindLocked(e *Entry) {
	removeFrom(ix.byCert, e.certLookup, e.Record.KeyID)
	for _, id := range e.lookupIDs {
		removeFrom(ix.byLookup, id, e.Record.KeyID)
	}
}

func addTo(m map[string]map[string]struct{}, k, keyID string) {
	ids := m[k]
	if ids == nil {
		ids = map[string]struct{}{}
		m[k] = ids
	}
	ids[keyID] = struct{}{}
}

func removeFrom(m map[string]map[string]struct{}, k, keyID string) {
	if ids := m[k]; ids != nil {
		delete(ids, keyID)
		if len(ids) == 0 {
			delete(m, k)
		}
	}
}

// collisionsLocked returns, for each of e's lookup IDs that other live
// records share, the sorted key IDs sharing it.
func (ix *Index) collisionsLocked(e *Entry) [][]string {
	var out [][]string
	for _, id := range e.lookupIDs {
		if holders := ix.byLookup[id]; len(holders) > 1 {
			out = append(out, slices.Sorted(maps.Keys(holders)))
		}
	}
	return out
}

// SetLookupKey loads the lookup key (nil forgets it). Foreign keys are
// found only under the key their records' lookup IDs were made with.
func (ix *Index) SetLookupKey(l *keys.LookupKey) {
	ix.mu.Lock()
	ix.lookupKey = l
	ix.mu.Unlock()
}

// LookupForeign finds the record of a foreign credential by its lookup ID.
// collision is true when several live records hold that lookup ID: then
// none is returned, since choosing one would let whoever imported the
// same key in another namespace stand in for its owner.
func (ix *Index) LookupForeign(credential string) (e *Entry, lookupID string, collision bool) {
	ix.mu.RLock()
	l := ix.lookupKey
	ix.mu.RUnlock()
	if l == nil {
		return nil, "", false
	}
	lookupID = l.ID(credential)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	ids := ix.byLookup[lookupID]
	if len(ids) > 1 {
		return nil, lookupID, true
	}
	for id := range ids {
		return ix.byID[id], lookupID, false
	}
	return nil, lookupID, false
}

// maxCertCandidates bounds the keys one certificate is checked against.
// Legitimately a certificate has one key, but the claims counted are
// those on its names, before their authority is looked at: anyone may
// bind another's name under an authority of their own, and such claims,
// which never verify, must take many to crowd a certificate out.
const maxCertCandidates = 256

// certificateCandidates returns the entries bound to any of a
// certificate's lookup keys (certbind.LookupKeys), each once. overflow
// reports more than maxCertCandidates: then no candidate is returned,
// since checking only some could pick one key while another, unchecked,
// also accepts the certificate.
func (ix *Index) certificateCandidates(lookupKeys []string) (entries []*Entry, overflow bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, k := range lookupKeys {
		for id := range ix.byCert[k] {
			e := ix.byID[id]
			if slices.Contains(entries, e) {
				continue
			}
			if len(entries) == maxCertCandidates {
				return nil, true
			}
			entries = append(entries, e)
		}
	}
	return entries, false
}
