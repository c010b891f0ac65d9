package verifier

import (
	"fmt"
	"sync"
	"time"

	"github.com/keyward-dev/keyward/internal/signingrecord"
	"github.com/keyward-dev/keyward/internal/token"
)

// signingEntry is one signing-key record, decoded once per version.
type signingEntry struct {
	rec    signingrecord.Record
	public token.ResolvedKey
	// signer is set for issuer keys whose private key came with the record.
	signer *token.Signer
}

// SigningKeys holds the issuer and client keys of the verifier's namespace,
// by kid. Watch events change it synchronously.
type SigningKeys struct {
	mu       sync.RWMutex
	byKID    map[string]*signingEntry
	kidBySec map[string]string

	// changed is told whenever the set of keys changes, so caches of
	// validated tokens can be purged; evicted is told the kid of a client
	// key whose eviction marker changed.
	changed func()
	evicted func(kid string)
}

// NewSigningKeys returns an empty set.
func NewSigningKeys() *SigningKeys {
	return &SigningKeys{byKID: map[string]*signingEntry{}, kidBySec: map[string]string{}}
}

// Put loads the signing key carried by the named Secret's data. A Secret
// that does not decode removes what it held before: fail closed.
func (s *SigningKeys) Put(secretName string, data map[string][]byte) error {
	e, err := newSigningEntry(data)
	if err == nil && signingrecord.SecretName(e.rec.KID) != secretName {
		err = fmt.Errorf("kid %s is in Secret %q, not %q", e.rec.KID, secretName, signingrecord.SecretName(e.rec.KID))
	}
	if err != nil {
		s.Remove(secretName)
		return fmt.Errorf("signing-key Secret %q: %w", secretName, err)
	}
	s.mu.Lock()
	old := s.byKID[e.rec.KID]
	s.byKID[e.rec.KID] = e
	s.kidBySec[secretName] = e.rec.KID
	changed, evicted := s.changed, s.evicted
	s.mu.Unlock()
	if old != nil && old.rec.Mode == signingrecord.Client && old.rec.Eviction != e.rec.Eviction && evicted != nil {
		evicted(e.rec.KID)
	}
	if changed != nil {
		changed()
	}
	return nil
}

func newSigningEntry(data map[string][]byte) (*signingEntry, error) {
	rec, err := signingrecord.Decode(data[signingrecord.DataKey])
	if err != nil {
		return nil, err
	}
	pub, err := rec.PublicKey()
	if err != nil {
		return nil, err
	}
	e := &signingEntry{rec: rec, public: pub}
	if pem, ok := data[signingrecord.PrivateKeyDataKey]; ok && rec.Mode == signingrecord.Issuer {
		key, err := signingrecord.DecodePrivateKey(pem)
		if err != nil {
			return nil, err
		}
		signer, err := token.NewSigner(rec.KID, key)
		if err != nil {
			return nil, err
		}
		// A private key that does not match the published public key would
		// sign tokens no one can verify.
		if kid, err := signingrecord.KID(key.Public()); err != nil || kid != rec.KID {
			return nil, fmt.Errorf("the private key does not belong to kid %s", rec.KID)
		}
		e.signer = &signer
	}
	return e, nil
}

// Remove forgets the key of the named Secret.
func (s *SigningKeys) Remove(secretName string) {
	s.mu.Lock()
	kid, ok := s.kidBySec[secretName]
	if ok {
		delete(s.kidBySec, secretName)
		delete(s.byKID, kid)
	}
	changed := s.changed
	s.mu.Unlock()
	if ok && changed != nil {
		changed()
	}
}

// issuerKey resolves kids of issuer keys published at now.
func (s *SigningKeys) issuerKey(kid string, now time.Time) (token.ResolvedKey, bool) {
	s.mu.RLock()
	e, ok := s.byKID[kid]
	s.mu.RUnlock()
	if !ok || !e.rec.Published(now) {
		return token.ResolvedKey{}, false
	}
	return e.public, true
}

// clientKey returns an enrolled client key.
func (s *SigningKeys) clientKey(kid string) (signingrecord.Record, token.ResolvedKey, bool) {
	s.mu.RLock()
	e, ok := s.byKID[kid]
	s.mu.RUnlock()
	if !ok || e.rec.Mode != signingrecord.Client {
		return signingrecord.Record{}, token.ResolvedKey{}, false
	}
	return e.rec, e.public, true
}

// activeSigner is the issuer key that signs at now: of those allowed to
// sign, the one that started last, so a rotation hands over at SignFrom.
func (s *SigningKeys) activeSigner(now time.Time) (*token.Signer, signingrecord.Record, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var best *signingEntry
	for _, e := range s.byKID {
		if e.signer == nil || !e.rec.Signs(now) {
			continue
		}
		if best == nil || e.rec.SignFrom.After(best.rec.SignFrom) ||
			(e.rec.SignFrom.Equal(best.rec.SignFrom) && e.rec.KID < best.rec.KID) {
			best = e
		}
	}
	if best == nil {
		return nil, signingrecord.Record{}, false
	}
	return best.signer, best.rec, true
}

// jwks is the set published at now and how long a client may cache it: no
// longer than the shortest publish-ahead overlap, so a cached copy is
// refreshed before a key published after it was fetched signs, and not past
// the moment a key already scheduled appears.
func (s *SigningKeys) jwks(now time.Time, maxAge time.Duration) (token.KeySet, time.Duration) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var set token.KeySet
	age := maxAge
	for _, e := range s.byKID {
		r := &e.rec
		if r.Mode != signingrecord.Issuer {
			continue
		}
		age = min(age, r.PublishAhead)
		if now.Before(r.PublishAt) {
			age = min(age, r.PublishAt.Sub(now))
		}
		if r.Published(now) {
			_ = set.Add(r.KID, r.Algorithm, e.public.Key)
		}
	}
	return set, max(age, 0)
}

// Len is the number of signing keys loaded.
func (s *SigningKeys) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byKID)
}
