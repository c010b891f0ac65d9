package verifier

import (
	"github.com/keyward-dev/keyward/internal/keys"
)

// presentedKey finds the key a credential names and its record. A
// credential in keyward's form is keyward's, found by its key ID, whatever
// else it might look like. Only one that is not, and that has the form of
// a foreign key (keys.ValidateForeign), is looked up by its lookup ID
// (docs/import.md): an HMAC, so a credential no record holds is denied
// without any PBKDF2. lookupID is set for a foreign key only.
func (v *Verifier) presentedKey(credential string) (key keys.Key, e *Entry, lookupID string, d Decision, ok bool) {
	key, err := keys.Parse(credential)
	if err == nil {
		if e, ok = v.index.Lookup(key.ID()); !ok {
			return keys.Key{}, nil, "", deny(ReasonUnknownKey, "the key is not valid"), false
		}
		return key, e, "", Decision{}, true
	}
	if keys.ValidateForeign(credential) != nil {
		return keys.Key{}, nil, "", deny(ReasonMalformedCredential, err.Error()), false
	}
	e, lookupID, collision := v.index.LookupForeign(credential)
	if collision {
		v.metrics.foreignCollisions.Inc()
	}
	if e == nil {
		return keys.Key{}, nil, "", deny(ReasonUnknownKey, "the key is not valid"), false
	}
	if key, err = keys.Foreign(e.Record.KeyID, credential); err != nil {
		return keys.Key{}, nil, "", deny(ReasonMalformedCredential, err.Error()), false
	}
	return key, e, lookupID, Decision{}, true
}

// secretsFor are the secrets a presented key may match, newest first (the
// common case): a foreign key only the secret of its own lookup ID, a
// keyward key only keyward secrets, so no credential is ever hashed
// against a secret of the other kind.
func secretsFor(e *Entry, lookupID string) []secretHash {
	out := make([]secretHash, 0, len(e.Record.Secrets))
	for i := len(e.Record.Secrets) - 1; i >= 0; i-- {
		if s := e.Record.Secrets[i]; s.LookupID == lookupID {
			out = append(out, secretHash{serial: s.Serial, hash: s.Hash})
		}
	}
	return out
}
