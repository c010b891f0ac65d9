package controllers

import (
	"maps"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// The delivery Secret's layout: what a consumer mounts or reads. The
// delivery Secret is output only: anyone who edits the key's namespace
// can change it, so the manager never takes a key ID, a serial, a time or
// a plaintext to hash from it. It recognises the plaintexts it generated
// by their fingerprints in the record, and rewrites everything else.
const (
	// DeliveryKeyField holds the plaintext key consumers use.
	DeliveryKeyField = "key"
	// DeliveryKeyIDField holds the public key ID.
	DeliveryKeyIDField = "keyID"
	// DeliveryPreviousKeyField holds the previous key during a rotation's
	// grace period, for consumers that switch over on their own schedule.
	DeliveryPreviousKeyField = "previousKey"
	// DeliveryNextKeyField holds, for the moment between storing a new
	// secret and publishing its hash, the key about to become current.
	// Consumers should not read it.
	DeliveryNextKeyField = "nextKey"
	// DeliveryRevealedField is "true" once the current key was revealed
	// under one-time delivery and its plaintext left the Secret;
	// DeliveryRevealedAtField says when (RFC 3339).
	DeliveryRevealedField   = "revealed"
	DeliveryRevealedAtField = "revealedAt"

	// DeliverySecretType marks delivery Secrets for people and tools.
	DeliverySecretType corev1.SecretType = "keyward.dev/api-key"

	// Annotations telling people which secret the Secret holds and how
	// long the previous one verifies. keyward writes them and never reads
	// them back: the record says what is true.
	SerialAnnotation             = "keyward.dev/serial"
	IssuedAtAnnotation           = "keyward.dev/issued-at"
	GenerationAnnotation         = "keyward.dev/generation"
	PreviousValidUntilAnnotation = "keyward.dev/previous-valid-until"
	// ImportedAnnotation says, on the delivery Secret of a key imported by
	// hash, why it holds no plaintext.
	ImportedAnnotation = "keyward.dev/imported"
	ImportedByHash     = "by-hash; no plaintext to deliver"
)

// deliveryFields are the data keys keyward writes a plaintext to.
var deliveryFields = []string{DeliveryKeyField, DeliveryPreviousKeyField, DeliveryNextKeyField}

// keywardFields are every data key keyward writes; it rewrites them all
// and leaves any other alone.
var keywardFields = append([]string{DeliveryKeyIDField, DeliveryRevealedField, DeliveryRevealedAtField}, deliveryFields...)

// deliveryView is what the delivery Secret must hold, worked out from the
// record's ledger and the plaintexts the manager has.
type deliveryView struct {
	keyID                   string
	current, previous, next *keys.Key
	serial                  string
	issuedAt                time.Time
	generation              int64
	previousValidUntil      *time.Time
	// hashOnly: the current secret was imported as a hash and has no
	// plaintext anywhere.
	hashOnly bool
	// revealed: the current secret's plaintext left the Secret under
	// one-time delivery, and so did the previous one's.
	revealed *record.Reveal
}

// view renders the delivery Secret the record's ledger asks for. A staged
// first secret goes to "key" (the record is still issuing, so no consumer
// can use it yet); a staged rotation or reissue goes to "nextKey".
func (s *apiKeyState) view() deliveryView {
	rec := s.want
	l := rec.Ledger
	v := deliveryView{keyID: rec.KeyID, generation: max(1, l.Generation)}
	pick := func(serial string) *keys.Key {
		if k, ok := s.plain[serial]; ok && serial != "" {
			return &k
		}
		return nil
	}
	if l.Staged != nil && l.StagedFor == record.StagedForKey {
		v.current, v.serial, v.issuedAt = pick(l.Staged.Serial), l.Staged.Serial, l.Staged.NotBefore
		return v
	}
	if cur, ok := rec.BySerial(l.Current); ok {
		v.current, v.serial, v.issuedAt, v.hashOnly = pick(cur.Serial), cur.Serial, cur.NotBefore, cur.HashOnly
	}
	if prev, ok := rec.BySerial(l.Previous); ok && s.deliversPlaintext(prev.Serial) {
		v.previous, v.previousValidUntil = pick(prev.Serial), prev.NotAfter
	}
	v.next = pick(l.Next)
	if l.Staged != nil && l.StagedFor == record.StagedForNext {
		v.next = pick(l.Staged.Serial)
	}
	if s.revealedCurrent() {
		v.current, v.previous, v.revealed = nil, nil, l.Revealed
	}
	return v
}

// data is the view's Secret data, in new buffers: the caller overwrites
// them with wipePlaintexts once they are sent or compared.
func (v deliveryView) data() map[string][]byte {
	data := map[string][]byte{DeliveryKeyIDField: []byte(v.keyID)}
	if v.revealed != nil {
		data[DeliveryRevealedField] = []byte("true")
		data[DeliveryRevealedAtField] = []byte(v.revealed.At.UTC().Format(time.RFC3339))
	}
	for field, k := range map[string]*keys.Key{DeliveryKeyField: v.current, DeliveryPreviousKeyField: v.previous, DeliveryNextKeyField: v.next} {
		if k != nil {
			data[field] = []byte(k.Plaintext())
		}
	}
	return data
}

// wipePlaintexts overwrites the plaintext keys in data, which must be
// buffers of keyward's own (never a cached object's).
func wipePlaintexts(data map[string][]byte) {
	for _, field := range deliveryFields {
		clear(data[field])
	}
}

func (v deliveryView) annotations() map[string]string {
	ann := map[string]string{
		SerialAnnotation:     v.serial,
		IssuedAtAnnotation:   v.issuedAt.UTC().Format(time.RFC3339),
		GenerationAnnotation: strconv.FormatInt(v.generation, 10),
	}
	if v.previous != nil && v.previousValidUntil != nil {
		ann[PreviousValidUntilAnnotation] = v.previousValidUntil.UTC().Format(time.RFC3339)
	}
	if v.hashOnly {
		ann[ImportedAnnotation] = ImportedByHash
	}
	return ann
}

// renderInto makes sec hold the view: keyward's data fields and
// annotations exactly, whatever anyone else added left alone, and the
// APIKey as its controller.
func (v deliveryView) renderInto(sec *corev1.Secret, key *keywardv1.APIKey) {
	data := v.data()
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	for _, field := range keywardFields {
		if w, ok := data[field]; ok {
			sec.Data[field] = w
		} else {
			delete(sec.Data, field)
		}
	}
	ann := v.annotations()
	for k := range sec.Annotations {
		if _, ours := ann[k]; !ours && strings.HasPrefix(k, keywardAnnotationPrefix) {
			delete(sec.Annotations, k)
		}
	}
	if sec.Annotations == nil {
		sec.Annotations = map[string]string{}
	}
	maps.Copy(sec.Annotations, ann)
	if sec.Labels == nil {
		sec.Labels = map[string]string{}
	}
	sec.Labels[ManagedByLabel] = ManagedByValue
	sec.OwnerReferences = ownerReferences(key)
}

// keywardAnnotationPrefix marks the annotations keyward writes on a
// delivery Secret; any other of that prefix there (an earlier version's,
// or a forged one) is removed.
const keywardAnnotationPrefix = "keyward.dev/"

// secret renders the view as a new Secret, for the first write, which is
// a create: it fails rather than merge into a Secret someone else made in
// the meantime.
func (v deliveryView) secret(key *keywardv1.APIKey) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace, Name: key.DeliverySecretName(),
			Labels:          map[string]string{ManagedByLabel: ManagedByValue},
			Annotations:     v.annotations(),
			OwnerReferences: ownerReferences(key),
		},
		Type: DeliverySecretType,
		Data: v.data(),
	}
}

// ownerReferences make the APIKey the delivery Secret's controller.
func ownerReferences(key *keywardv1.APIKey) []metav1.OwnerReference {
	isController := true
	return []metav1.OwnerReference{{
		APIVersion: keywardv1.GroupVersion.String(), Kind: "APIKey", Name: key.Name, UID: key.UID,
		Controller: &isController, BlockOwnerDeletion: &isController,
	}}
}

// heldBy reports whether sec already holds what the view renders: keyward's
// fields only; whatever else someone added stays theirs.
func (v deliveryView) heldBy(sec *corev1.Secret, key *keywardv1.APIKey) bool {
	if sec == nil || sec.Type != DeliverySecretType || sec.Labels[ManagedByLabel] != ManagedByValue {
		return false
	}
	want := v.data()
	defer wipePlaintexts(want)
	for _, field := range keywardFields {
		got, has := sec.Data[field]
		w, wanted := want[field]
		if has != wanted || string(got) != string(w) {
			return false
		}
	}
	for k, w := range v.annotations() {
		if sec.Annotations[k] != w {
			return false
		}
	}
	for k := range sec.Annotations {
		if _, ours := v.annotations()[k]; !ours && strings.HasPrefix(k, keywardAnnotationPrefix) {
			return false
		}
	}
	return metav1.IsControlledBy(sec, key) && len(sec.OwnerReferences) == 1
}
