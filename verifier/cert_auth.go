package verifier

import (
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/record"
)

// Reasons of client-certificate denials. All are credential problems:
// 401 invalid_token.
const (
	// ReasonMalformedCertificate: the certificate (in a trusted proxy's
	// header, or the TLS chain) could not be read.
	ReasonMalformedCertificate Reason = "malformed_certificate"
	// ReasonCertificateNotBound: a certificate alone, bound to no key.
	ReasonCertificateNotBound Reason = "certificate_not_bound"
	// ReasonCertificateAmbiguous: a certificate alone that the bindings
	// of several keys accept; none of them wins.
	ReasonCertificateAmbiguous Reason = "certificate_bound_to_several_keys"
	// ReasonCertificateRequired: the key is bound to a certificate that
	// must come with it, and none came.
	ReasonCertificateRequired Reason = "certificate_required"
	// ReasonCertificateMismatch: the certificate is not the one the
	// key's binding names.
	ReasonCertificateMismatch Reason = "certificate_mismatch"
	// ReasonCertificateUntrusted: the certificate does not chain to the
	// authority the key's binding names.
	ReasonCertificateUntrusted Reason = "certificate_untrusted"
	// ReasonCertificateExpired and ReasonCertificateNotYetValid: outside
	// the certificate's (or its chain's) validity at the verifier's clock.
	ReasonCertificateExpired     Reason = "certificate_expired"
	ReasonCertificateNotYetValid Reason = "certificate_not_yet_valid"
)

// certificateReason reports the client-certificate reasons.
func certificateReason(r Reason) bool {
	switch r {
	case ReasonMalformedCertificate, ReasonCertificateNotBound, ReasonCertificateAmbiguous, ReasonCertificateRequired,
		ReasonCertificateMismatch, ReasonCertificateUntrusted, ReasonCertificateExpired, ReasonCertificateNotYetValid:
		return true
	}
	return false
}

// CertificateError is why a certificate does not authenticate as a key.
// Its message is fixed text about the certificate, never key material.
type CertificateError struct {
	Reason  Reason
	Message string
}

func (e *CertificateError) Error() string { return e.Message }

func (e *CertificateError) decision() Decision { return deny(e.Reason, e.Message) }

// verifyClientCertificate reports whether cc authenticates as the key of
// e by the key's certificate binding (record.ClientCertificate), at now
// (the verifier's clock):
//
//   - the key allows MutualTLS and has a binding;
//   - the leaf matches the binding (thumbprint, subject, DNS name, URI or
//     e-mail: certbind.Binding.Matches);
//   - the leaf is within its validity period;
//   - when the binding names an authority, the leaf chains to that
//     configured CA through the intermediates the client sent, for client
//     authentication (x509 ExtKeyUsageClientAuth), every certificate of
//     the chain valid at now.
//
// It does not look at the key's state (revoked, suspended, expired) nor
// at whether the binding needs the key as well (RequiresKey): callers
// apply those, since they differ between a certificate alone, a key with
// its certificate and a token request. Successes are cached per leaf
// thumbprint, record (Entry.generation) and authority bundle, until the chain's
// earliest expiry: a leaf once shown to chain to the authority keeps its
// signature, so later requests need not resend the intermediates.
func (v *Verifier) verifyClientCertificate(e *Entry, cc ClientCertificate, now time.Time) *CertificateError {
	return v.verifyBinding(e, cc, now, nil)
}

// chainResults are the outcomes of one certificate's chain verification
// by authority name, within one request: the keys a certificate alone is
// checked against may name the same authority many times over.
type chainResults map[string]chainResult

type chainResult struct {
	chain []*x509.Certificate
	err   error
}

// verify returns the outcome of the chain verification for authority,
// running verify the first time only. A nil *chainResults remembers
// nothing.
func (rs *chainResults) verify(authority string, verify func() ([]*x509.Certificate, error)) ([]*x509.Certificate, error) {
	if rs == nil {
		return verify()
	}
	if r, ok := (*rs)[authority]; ok {
		return r.chain, r.err
	}
	chain, err := verify()
	if *rs == nil {
		*rs = chainResults{}
	}
	(*rs)[authority] = chainResult{chain, err}
	return chain, err
}

// verifyBinding is verifyClientCertificate remembering chain
// verifications in *chains when chains is not nil.
func (v *Verifier) verifyBinding(e *Entry, cc ClientCertificate, now time.Time, chains *chainResults) *CertificateError {
	b := e.Record.ClientCertificate
	switch {
	case b == nil || !e.Record.Allows(record.AuthMutualTLS):
		return &CertificateError{ReasonAuthMethodNotAllowed, "this key may not authenticate with a client certificate; see its spec.authMethods"}
	case !cc.Present():
		return &CertificateError{ReasonCertificateRequired, "this key must be used with its client certificate, and none was presented"}
	}
	var (
		pool *x509.CertPool
		gen  int64
	)
	if b.Authority != "" {
		var ok bool
		if pool, gen, ok = v.authorities.pool(b.Authority); !ok {
			return &CertificateError{ReasonCertificateUntrusted, fmt.Sprintf("the key's certificate authority %q is not configured in this verifier", b.Authority)}
		}
	}
	ck := certCacheKey{thumbprint: cc.Thumbprint(), generation: e.generation, authorities: gen}
	if w, ok := v.certs.get(e.Record.KeyID, ck); ok && !now.Before(w.notBefore) && now.Before(w.notAfter) {
		return nil
	}
	leaf := cc.Leaf
	if !b.Matches(leaf) {
		return &CertificateError{ReasonCertificateMismatch, "the client certificate is not the one bound to this key"}
	}
	lapsed := leafValidity(leaf, now)
	if pool == nil {
		if lapsed != nil {
			return lapsed
		}
		v.certs.put(e.Record.KeyID, ck, validity{notBefore: leaf.NotBefore, notAfter: leaf.NotAfter})
		return nil
	}
	// A lapsed leaf is said to be lapsed only if the authority did issue
	// it: a stranger's certificate must not learn that a name is bound.
	at := now
	if lapsed != nil {
		at = leaf.NotBefore
	}
	chain, err := chains.verify(b.Authority, func() ([]*x509.Certificate, error) {
		return verifyChain(leaf, cc.Intermediates, pool, at)
	})
	switch {
	case err != nil:
		return &CertificateError{ReasonCertificateUntrusted, fmt.Sprintf("the client certificate was not issued for client authentication by the key's certificate authority %q", b.Authority)}
	case lapsed != nil:
		return lapsed
	}
	w := validity{notBefore: leaf.NotBefore, notAfter: leaf.NotAfter}
	for _, c := range chain {
		w.notBefore, w.notAfter = later(w.notBefore, c.NotBefore), earlier(w.notAfter, c.NotAfter)
	}
	v.certs.put(e.Record.KeyID, ck, w)
	return nil
}

// verifyChain verifies leaf for client authentication up to a root of
// pool through the intermediates the client sent, at the time at.
func verifyChain(leaf *x509.Certificate, intermediates []*x509.Certificate, pool *x509.CertPool, at time.Time) ([]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: pool, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	return chains[0], nil
}

func leafValidity(leaf *x509.Certificate, now time.Time) *CertificateError {
	switch {
	case now.Before(leaf.NotBefore):
		return &CertificateError{ReasonCertificateNotYetValid, "the client certificate is not valid yet"}
	case !now.Before(leaf.NotAfter):
		return &CertificateError{ReasonCertificateExpired, "the client certificate has expired"}
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// requiresCertificate reports whether a key presented as a credential
// must come with its bound certificate.
func requiresCertificate(e *Entry) bool {
	b := e.Record.ClientCertificate
	return b != nil && b.RequiresKey() && e.Record.Allows(record.AuthMutualTLS)
}

// requireBoundCertificate refuses a key that must come with its bound
// certificate when cc is not that certificate, whatever the key was
// authenticated by. It is the one place this rule is applied: forward-auth
// and the decision API (decide) and the token endpoint call it after the
// credential verified. A bound access token's cnf was compared already;
// checking the binding again costs a cache hit.
func (v *Verifier) requireBoundCertificate(e *Entry, cc ClientCertificate, now time.Time) *CertificateError {
	if !requiresCertificate(e) {
		return nil
	}
	return v.verifyClientCertificate(e, cc, now)
}

// certificateOnly reports whether a key's binding lets its certificate
// authenticate alone.
func certificateOnly(e *Entry) bool {
	b := e.Record.ClientCertificate
	return b != nil && !b.RequiresKey() && e.Record.Allows(record.AuthMutualTLS)
}

// authenticateCertificate finds the one key a certificate presented alone
// authenticates as. Candidates come from the index by the certificate's
// thumbprint and names; only those whose binding verifies count (a
// binding by name under an authority that did not issue the certificate
// does not), and only live ones: a revoked or expired key bound to the
// same certificate as its successor must not lock the successor out.
//
// Two live keys that both accept the certificate are both refused: one
// tenant may bind another's certificate name to its own key, and neither
// the claimant nor the owner may then silently win.
func (v *Verifier) authenticateCertificate(req Request, now time.Time) Decision {
	cc := req.ClientCertificate
	candidates, overflow := v.index.certificateCandidates(cc.LookupKeys())
	if overflow {
		v.logAmbiguous(cc, nil, now)
		return deny(ReasonCertificateAmbiguous, "the certificate is bound to more than one key")
	}
	var (
		match, ended *Entry
		matches      []string
		needsKey     bool
		// lapsed: a binding held but the certificate is outside its
		// validity, worth saying to a client whose certificate ran out.
		lapsed *CertificateError
		chains *chainResults
	)
	if len(candidates) > 1 {
		chains = &chainResults{}
	}
	for _, e := range candidates {
		if len(matches) > 1 {
			// Ambiguous already, whatever the rest say.
			break
		}
		if err := v.verifyBinding(e, cc, now, chains); err != nil {
			if err.Reason == ReasonCertificateExpired || err.Reason == ReasonCertificateNotYetValid {
				lapsed = err
			}
			continue
		}
		switch {
		case !certificateOnly(e):
			needsKey = true
		case ended == nil && terminal(e, now):
			ended = e
		case !terminal(e, now):
			match = e
			matches = append(matches, e.Record.KeyID)
		}
	}
	switch {
	case len(matches) > 1:
		v.logAmbiguous(cc, matches, now)
		return deny(ReasonCertificateAmbiguous, "the certificate is bound to more than one key")
	case match != nil:
		if d, ok := stateDenial(match, now); !ok {
			return d
		}
		return identified(Decision{Result: Permit, Reason: ReasonAllowed}, match)
	case ended != nil:
		d, _ := stateDenial(ended, now)
		return d
	case needsKey:
		return deny(ReasonMissingCredential, "the certificate is bound to a key that must be presented with it")
	case lapsed != nil:
		return lapsed.decision()
	}
	return deny(ReasonCertificateNotBound, "the client certificate is not bound to any key")
}

// terminal reports a key that will never verify again.
func terminal(e *Entry, now time.Time) bool {
	r := &e.Record
	return r.State == record.Revoked || r.State == record.Expired || (r.ExpiresAt != nil && !now.Before(*r.ExpiresAt))
}

func (v *Verifier) logAmbiguous(cc ClientCertificate, keyIDs []string, now time.Time) {
	if v.ambiguousLog.allow(now, untrustedLogEvery) {
		v.log.Info("denied a client certificate that the bindings of more than one key accept; fix the bindings so that one key holds it",
			"thumbprint", cc.Thumbprint(), "subject", certbind.SubjectDN(cc.Leaf), "keyIDs", keyIDs)
	}
}

// validity is when a verified certificate and its chain are valid.
type validity struct{ notBefore, notAfter time.Time }

type certCacheKey struct {
	thumbprint  string
	generation  uint64
	authorities int64
}

// certCache remembers certificates that verified against a record, by key
// ID, so that a client's requests cost one chain verification per record.
// A thumbprint is public, so unlike the verified-key cache no HMAC is
// needed. Capped; a full cache evicts an arbitrary key's entries.
type certCache struct {
	mu      sync.RWMutex
	max     int
	size    int
	entries map[string]map[certCacheKey]validity
}

func newCertCache(max int) *certCache {
	return &certCache{max: max, entries: map[string]map[certCacheKey]validity{}}
}

func (c *certCache) get(keyID string, k certCacheKey) (validity, bool) {
	c.mu.RLock()
	w, ok := c.entries[keyID][k]
	c.mu.RUnlock()
	return w, ok
}

func (c *certCache) put(keyID string, k certCacheKey, w validity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.size >= c.max {
		for old := range c.entries {
			c.forgetLocked(old)
			break
		}
	}
	byKey := c.entries[keyID]
	if byKey == nil {
		byKey = map[certCacheKey]validity{}
		c.entries[keyID] = byKey
	}
	if _, had := byKey[k]; !had {
		c.size++
	}
	byKey[k] = w
}

// forget drops what was verified against a key's records, when its record
// changed or went.
func (c *certCache) forget(keyID string) {
	c.mu.Lock()
	c.forgetLocked(keyID)
	c.mu.Unlock()
}

func (c *certCache) forgetLocked(keyID string) {
	c.size -= len(c.entries[keyID])
	delete(c.entries, keyID)
}
