// Package record is the contract between keyward's manager and its
// verifier: everything the verifier knows about a key, and nothing it must
// not know. The manager writes one record per key into a Secret in the
// verifier's namespace; the verifier reads only these.
//
// A record never contains a plaintext key: only PBKDF2 hashes in PHC form.
package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/scope"
)

// Schema names this version of the record format. A verifier refuses
// records of a schema it does not know instead of guessing.
const Schema = "keyward.dev/record/v1"

// Labels and data key of the Secret that carries a record. The verifier
// selects on RecordLabel; nothing else in its namespace is read.
const (
	RecordLabel = "keyward.dev/record"
	// VerifierReportLabel is "true" on every ConfigMap a verifier writes
	// for the manager (usage and leak reports), so that the manager
	// caches those and no other ConfigMap of the verifier namespace.
	VerifierReportLabel = "keyward.dev/verifier-report"
	KeyIDLabel          = "keyward.dev/key-id"
	APIKeyUIDLabel      = "keyward.dev/apikey-uid"
	// APIKeyAnnotation holds "<namespace>/<name>" of the APIKey, for
	// people and for the manager's watch.
	APIKeyAnnotation = "keyward.dev/apikey"
	DataKey          = "record.json"
)

// SecretName is the name of the Secret holding the record of a key ID.
func SecretName(keyID string) string { return "keyward-key-" + keyID }

// State is a key's state as the verifier must enforce it.
type State string

const (
	// Active keys verify when their secret matches and their scopes and
	// conditions allow the request.
	Active State = "active"
	// Suspended keys are denied but may be resumed; their secrets stay so
	// that resuming needs no new hash.
	Suspended State = "suspended"
	// Revoked keys are denied for good. Their record is a tombstone without
	// secrets, kept for audit until the manager's retention ends.
	Revoked State = "revoked"
	// Expired keys are denied.
	Expired State = "expired"
	// Issuing keys have a secret on its way to the delivery Secret and
	// none that verifies yet: the record exists so that its key ID is
	// bound to its APIKey before any plaintext leaves the manager.
	Issuing State = "issuing"
)

// Authentication methods a record may allow.
const (
	AuthAPIKey            = "APIKey"
	AuthClientCredentials = "ClientCredentials"
	AuthClientAssertion   = "ClientAssertion"
	// AuthMutualTLS: a client certificate the record's ClientCertificate
	// binds (RFC 8705), alone or with the key.
	AuthMutualTLS = "MutualTLS"
)

// Allows reports whether the key may authenticate by method.
func (r *Record) Allows(method string) bool {
	if len(r.AuthMethods) == 0 {
		return method == AuthAPIKey
	}
	return slices.Contains(r.AuthMethods, method)
}

// Secret is one valid secret of a key: its hash and when it is valid.
type Secret struct {
	// Serial identifies the secret without revealing anything about it;
	// the delivery Secret carries the same serial, so the manager can tell
	// which delivered key a hash belongs to without running PBKDF2.
	Serial string `json:"serial"`
	// Hash is the PBKDF2-HMAC-SHA256 PHC string of the whole key.
	Hash string `json:"hash"`
	// NotBefore is when the secret was issued.
	NotBefore time.Time `json:"notBefore"`
	// NotAfter, when set, ends this secret's validity before the key's
	// (the previous secret during a rotation's grace period).
	NotAfter *time.Time `json:"notAfter,omitempty"`
	// Fingerprint lets the manager recognise this secret's plaintext in
	// the delivery Secret without PBKDF2 (see keys.Fingerprinter). The
	// verifier ignores it.
	Fingerprint string `json:"fingerprint,omitempty"`
	// HashOnly marks a secret imported as a hash (docs/import.md): keyward
	// never had its plaintext, so the delivery Secret cannot hold it and
	// its absence there is no loss. The verifier ignores it.
	HashOnly bool `json:"hashOnly,omitempty"`
	// LookupID marks the secret of a foreign key, imported in another
	// system's format (docs/import.md): the verifier finds the record by
	// this ID (keys.LookupKey.ID of the presented credential), since the
	// credential holds no key ID, and checks such a credential against
	// this secret only. It leaves the record with its secret.
	LookupID string `json:"lookupID,omitempty"`
}

// Ledger is the manager's memory of a key's secrets: which one the
// delivery Secret must hold as "key", "previousKey" and "nextKey", the
// secret on its way there, and the rotation requests already served. It
// lives in the record, where only keyward writes, and never in the
// delivery Secret, which anyone who edits the key's namespace can change.
// The verifier ignores it.
type Ledger struct {
	// Current is the serial of the secret consumers read as "key".
	Current string `json:"current,omitempty"`
	// Previous is the serial of the secret a rotation replaced, valid
	// until its NotAfter.
	Previous string `json:"previous,omitempty"`
	// Next is the serial of a rotation's new secret: it verifies already
	// and becomes Current once the delivery Secret holds it as "key".
	Next string `json:"next,omitempty"`
	// Staged is a new secret written, or about to be written, to the
	// delivery Secret; it verifies only once moved into Secrets. StagedFor
	// says where it goes: "key" (a first or reissued secret) or "nextKey"
	// (a rotation).
	Staged    *Secret `json:"staged,omitempty"`
	StagedFor string  `json:"stagedFor,omitempty"`
	// Generation counts the secrets the key has had; Cause says why the
	// current one (or Next, or Staged) was made.
	Generation int64  `json:"generation,omitempty"`
	Cause      string `json:"cause,omitempty"`
	NextCause  string `json:"nextCause,omitempty"`
	// HandledTrigger and HandledAnnotation are the on-demand rotation
	// requests (spec.rotation.trigger, the keyward.dev/rotate annotation)
	// already acted on.
	HandledTrigger    string `json:"handledTrigger,omitempty"`
	HandledAnnotation string `json:"handledAnnotation,omitempty"`
	// ImportedFrom is the UID of the import Secret whose plaintext became
	// the key's first secret, until the manager has deleted that Secret:
	// only the Secret read, never one re-created under its name, is
	// deleted.
	ImportedFrom string `json:"importedFrom,omitempty"`
	// Revealed says that the plaintext of the secret of Generation left
	// the delivery Secret under one-time delivery: the delivery Secret
	// no longer holds it and that is not a loss to repair. A later
	// generation is delivered again.
	Revealed *Reveal `json:"revealed,omitempty"`
	// LeakedSerials are the key's secrets reported leaked that it still
	// holds, kept here so that the reports themselves (ConfigMaps an
	// administrator may clean up) are not what keeps a suspension.
	LeakedSerials []string `json:"leakedSerials,omitempty"`
	// Anomaly is the key's current finding of the usage analytics and the
	// action taken. It is kept here, where tenants cannot write, because
	// it is what keeps a detector's suspension: status, which a tenant
	// with status rights could edit, only shows it.
	Anomaly *Anomaly `json:"anomaly,omitempty"`
	// AcknowledgedAnomaly is the fingerprint of the last finding a person
	// acknowledged, so that the same finding, reported again, does not
	// come back.
	AcknowledgedAnomaly string `json:"acknowledgedAnomaly,omitempty"`
}

// Anomaly is a detector's finding of the key and what keyward did.
type Anomaly struct {
	// ID names the finding; the acknowledge annotation must carry it. It
	// is random, so nobody can set the annotation before the finding.
	ID string `json:"id"`
	// Fingerprint is derived from the finding (detector, reason, minute),
	// so that the same finding reported twice is recognised.
	Fingerprint string    `json:"fingerprint"`
	Detector    string    `json:"detector"`
	Reason      string    `json:"reason"`
	Message     string    `json:"message"`
	At          time.Time `json:"at"`
	// Action is Alert, Suspend or Revoke; ActionBy the detector whose
	// finding decided it, which an earlier finding may have been: a later,
	// milder one never lowers an action taken.
	Action   string `json:"action"`
	ActionBy string `json:"actionBy"`
	// NotActionable: someone without the key's secret could have caused
	// the finding, so it was held to an alert whatever the policy says.
	NotActionable bool `json:"notActionable,omitempty"`
	// Later counts the findings that came while this one was current and
	// did not replace it (milder, or one that anyone knowing the key ID
	// could cause), and LastLater is the last of them: they are noted, but
	// change neither the id nor what the key shows, so that an
	// acknowledgement prepared for this finding still lifts it.
	Later     int          `json:"later,omitempty"`
	LastLater LaterFinding `json:"lastLater,omitzero"`
}

// LaterFinding is a finding noted beside the current one.
type LaterFinding struct {
	Fingerprint string    `json:"fingerprint"`
	Detector    string    `json:"detector"`
	Reason      string    `json:"reason"`
	At          time.Time `json:"at"`
}

// Reveal is when and why a generation's plaintext left the delivery
// Secret.
type Reveal struct {
	Generation int64     `json:"generation"`
	At         time.Time `json:"at"`
	// Cause is RevealRead or RevealDeadline.
	Cause string `json:"cause"`
}

// Why a plaintext left the delivery Secret.
const (
	// RevealRead: someone read it and said so (the APIKey's
	// keyward.dev/revealed annotation named its serial).
	RevealRead = "read"
	// RevealDeadline: nobody read it within the APIKey's
	// spec.delivery.revealWithinSeconds.
	RevealDeadline = "deadline"
)

// Where a staged secret goes in the delivery Secret.
const (
	StagedForKey  = "key"
	StagedForNext = "nextKey"
)

// Conditions restrict where, when and from what a key may be used; the
// access package defines and checks them.
type Conditions = access.Conditions

// APIKeyRef names the APIKey a record belongs to. A key ID is bound to
// one APIKey, by UID, for the record's whole life: the manager never
// writes a record bound to another UID, and nothing else may write in the
// verifier's namespace.
type APIKeyRef struct {
	UID       string `json:"uid"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// Record is everything the verifier knows about one key.
type Record struct {
	Schema string `json:"schema"`
	KeyID  string `json:"keyID"`
	// APIKey is the object the key belongs to. Namespaces keep apart
	// what keys share (an owner's rate-limit buckets), and a client
	// signing key is accepted only for the UID it was enrolled for.
	APIKey     APIKeyRef  `json:"apiKey"`
	Owner      string     `json:"owner"`
	State      State      `json:"state"`
	Secrets    []Secret   `json:"secrets,omitempty"`
	Scopes     []string   `json:"scopes,omitempty"`
	Conditions Conditions `json:"conditions,omitzero"`
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
	// AuthMethods are the ways the key may authenticate; empty means
	// [AuthAPIKey], so records written before the field existed keep
	// their meaning.
	AuthMethods []string `json:"authMethods,omitempty"`
	// ClientCertificate binds the key to client certificates; set exactly
	// when AuthMethods has AuthMutualTLS.
	ClientCertificate *certbind.Binding `json:"clientCertificate,omitempty"`
	// RateLimit is what the key may spend; zero means unlimited.
	RateLimit RateLimit `json:"rateLimit,omitzero"`
	// RevokedAt is when a revoked key was revoked.
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	// TokensNotBefore invalidates the access tokens issued before it:
	// those of a key whose secret leaked may have been minted with the
	// leaked secret, and must not outlive the suspension a rotation
	// lifts. Nil (records written before the field existed) invalidates
	// none.
	TokensNotBefore *time.Time `json:"tokensNotBefore,omitempty"`
	// Ledger is the manager's; the verifier ignores it.
	Ledger *Ledger `json:"ledger,omitempty"`
	// Version increases with every change of the record's content, so a
	// verifier can drop what it cached about an older version.
	Version int64 `json:"version"`
}

// Validate checks a record completely, so that neither side ever acts on a
// half-formed one.
func (r *Record) Validate() error {
	var errs []error
	if r.Schema != Schema {
		errs = append(errs, fmt.Errorf("schema %q is not %q", r.Schema, Schema))
	}
	if err := keys.ValidateID(r.KeyID); err != nil {
		errs = append(errs, err)
	}
	if r.Owner == "" {
		errs = append(errs, errors.New("owner is empty"))
	}
	if (r.APIKey != APIKeyRef{}) && (r.APIKey.UID == "" || r.APIKey.Namespace == "" || r.APIKey.Name == "") {
		errs = append(errs, errors.New("apiKey needs uid, namespace and name"))
	}
	switch r.State {
	case Active:
		if len(r.Secrets) == 0 {
			errs = append(errs, errors.New("an active key needs at least one secret"))
		}
	case Suspended:
	case Issuing:
		if len(r.Secrets) != 0 || r.Ledger == nil || r.Ledger.Staged == nil {
			errs = append(errs, errors.New("an issuing key has a staged secret and none that verifies"))
		}
	case Revoked, Expired:
		if len(r.Secrets) != 0 {
			errs = append(errs, fmt.Errorf("a %s key keeps no secrets", r.State))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown state %q", r.State))
	}
	for i, s := range r.Secrets {
		if s.Serial == "" {
			errs = append(errs, fmt.Errorf("secrets[%d]: serial is empty", i))
		}
		if _, err := keys.ParseHash(s.Hash); err != nil {
			errs = append(errs, fmt.Errorf("secrets[%d]: %w", i, err))
		}
	}
	for i, s := range r.Secrets {
		if s.Fingerprint != "" && !keys.ValidFingerprint(s.Fingerprint) {
			errs = append(errs, fmt.Errorf("secrets[%d]: fingerprint is malformed", i))
		}
		if s.LookupID != "" && !keys.ValidLookupID(s.LookupID) {
			errs = append(errs, fmt.Errorf("secrets[%d]: lookupID is malformed", i))
		}
	}
	errs = append(errs, r.Ledger.validate(r.Secrets)...)
	if _, err := scope.ParseSet(r.Scopes); err != nil {
		errs = append(errs, err)
	}
	// The verifier enforces only conditions it can read: a record whose
	// conditions do not compile is refused, not half-enforced.
	if _, err := access.Compile(r.Conditions); err != nil {
		errs = append(errs, fmt.Errorf("conditions: %w", err))
	}
	if _, err := r.RateLimit.Compile(); err != nil {
		errs = append(errs, fmt.Errorf("rateLimit: %w", err))
	}
	for i, m := range r.AuthMethods {
		switch m {
		case AuthAPIKey, AuthClientCredentials, AuthClientAssertion, AuthMutualTLS:
		default:
			errs = append(errs, fmt.Errorf("authMethods[%d]: unknown method %q", i, m))
		}
		if slices.Contains(r.AuthMethods[:i], m) {
			errs = append(errs, fmt.Errorf("authMethods[%d]: %q is listed twice", i, m))
		}
	}
	if r.Allows(AuthMutualTLS) != (r.ClientCertificate != nil) {
		errs = append(errs, errors.New("clientCertificate is set exactly when authMethods has MutualTLS"))
	}
	if r.ClientCertificate != nil {
		if err := r.ClientCertificate.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("clientCertificate: %w", err))
		}
	}
	if (r.State == Revoked) != (r.RevokedAt != nil) {
		errs = append(errs, errors.New("revokedAt is set exactly when the state is revoked"))
	}
	if !slices.IsSortedFunc(r.Secrets, bySerialTime) {
		errs = append(errs, errors.New("secrets must be ordered oldest first"))
	}
	if r.Version < 1 {
		errs = append(errs, errors.New("version must be at least 1"))
	}
	return errors.Join(errs...)
}

// Encode validates and serialises a record. The output is deterministic, so
// equal records encode to equal bytes.
func Encode(r Record) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("invalid key record: %w", err)
	}
	if r.APIKey == (APIKeyRef{}) {
		return nil, errors.New("invalid key record: apiKey needs uid, namespace and name")
	}
	return json.Marshal(r)
}

// Decode parses and validates a record. Unknown fields are ignored so that a
// newer manager can add optional data; incompatible changes bump Schema.
// A record without apiKey was written before records named their APIKey:
// it decodes (its Secret's label binds it), and the manager rewrites it.
func Decode(b []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("decoding key record: %w", err)
	}
	if err := r.Validate(); err != nil {
		return Record{}, fmt.Errorf("invalid key record: %w", err)
	}
	return r, nil
}

// SameContent reports whether two records say the same thing, whatever their
// versions: the manager writes only when content changes.
func SameContent(a, b Record) bool {
	a.Version, b.Version = 0, 0
	ea, errA := json.Marshal(a)
	eb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ea, eb)
}

// Clone is a copy of r that shares nothing the manager changes in place
// (the secrets and the ledger), so that a record kept as "what is
// published" does not change with the one being worked on.
func (r Record) Clone() Record {
	r.Secrets = slices.Clone(r.Secrets)
	if r.Ledger != nil {
		l := *r.Ledger
		if l.Staged != nil {
			staged := *l.Staged
			l.Staged = &staged
		}
		if l.Revealed != nil {
			rev := *l.Revealed
			l.Revealed = &rev
		}
		l.LeakedSerials = slices.Clone(l.LeakedSerials)
		if l.Anomaly != nil {
			a := *l.Anomaly
			l.Anomaly = &a
		}
		r.Ledger = &l
	}
	return r
}

// LookupIDs are the lookup IDs of the record's foreign secrets.
func (r *Record) LookupIDs() []string {
	var ids []string
	for _, s := range r.Secrets {
		if s.LookupID != "" && !slices.Contains(ids, s.LookupID) {
			ids = append(ids, s.LookupID)
		}
	}
	return ids
}

// Current returns the secret issued last.
func (r *Record) Current() (Secret, bool) {
	if len(r.Secrets) == 0 {
		return Secret{}, false
	}
	return r.Secrets[len(r.Secrets)-1], true
}

// BySerial returns the secret with the given serial.
func (r *Record) BySerial(serial string) (Secret, bool) {
	for _, s := range r.Secrets {
		if s.Serial == serial {
			return s, true
		}
	}
	return Secret{}, false
}

// SortSecrets orders secrets oldest first, the order Validate requires, so
// that equal content always encodes to equal bytes.
func SortSecrets(s []Secret) { slices.SortStableFunc(s, bySerialTime) }

func bySerialTime(a, b Secret) int {
	if c := a.NotBefore.Compare(b.NotBefore); c != 0 {
		return c
	}
	return strings.Compare(a.Serial, b.Serial)
}

func (l *Ledger) validate(secrets []Secret) []error {
	if l == nil {
		return nil
	}
	var errs []error
	has := func(serial string) (Secret, bool) {
		for _, s := range secrets {
			if s.Serial == serial {
				return s, true
			}
		}
		return Secret{}, false
	}
	for _, ref := range []struct{ name, serial string }{{"current", l.Current}, {"previous", l.Previous}, {"next", l.Next}} {
		if ref.serial == "" {
			continue
		}
		if _, ok := has(ref.serial); !ok {
			errs = append(errs, fmt.Errorf("ledger.%s: no secret has serial %q", ref.name, ref.serial))
		}
	}
	if l.Previous != "" {
		if s, _ := has(l.Previous); s.NotAfter == nil {
			errs = append(errs, errors.New("ledger.previous: the previous secret needs notAfter"))
		}
	}
	if r := l.Revealed; r != nil && (r.Generation < 1 || r.At.IsZero() || (r.Cause != RevealRead && r.Cause != RevealDeadline)) {
		errs = append(errs, fmt.Errorf("ledger.revealed needs a generation, a time and a cause (%q or %q)", RevealRead, RevealDeadline))
	}
	if l.Staged != nil {
		st := l.Staged
		if _, err := keys.ParseHash(st.Hash); err != nil || st.Serial == "" || !keys.ValidFingerprint(st.Fingerprint) {
			errs = append(errs, errors.New("ledger.staged needs a serial, a hash and a fingerprint"))
		}
		if _, dup := has(st.Serial); dup {
			errs = append(errs, fmt.Errorf("ledger.staged: serial %q already verifies", st.Serial))
		}
		if l.StagedFor != StagedForKey && l.StagedFor != StagedForNext {
			errs = append(errs, fmt.Errorf("ledger.stagedFor must be %q or %q", StagedForKey, StagedForNext))
		}
	}
	return errs
}
