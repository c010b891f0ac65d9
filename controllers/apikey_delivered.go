package controllers

import (
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
)

// The delivery Secret's layout: what a consumer mounts or reads.
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

	// DeliverySecretType marks delivery Secrets for people and tools.
	DeliverySecretType corev1.SecretType = "keyward.dev/api-key"

	// Annotations pairing each delivered key with its hash in the record
	// (by serial) and carrying the times the schedule needs. They are the
	// durable memory of the rotation: status can be lost, these cannot
	// without losing the keys themselves.
	SerialAnnotation               = "keyward.dev/serial"
	IssuedAtAnnotation             = "keyward.dev/issued-at"
	PreviousSerialAnnotation       = "keyward.dev/previous-serial"
	PreviousIssuedAtAnnotation     = "keyward.dev/previous-issued-at"
	PreviousValidUntilAnnotation   = "keyward.dev/previous-valid-until"
	NextSerialAnnotation           = "keyward.dev/next-serial"
	NextIssuedAtAnnotation         = "keyward.dev/next-issued-at"
	GenerationAnnotation           = "keyward.dev/generation"
	NextGenerationAnnotation       = "keyward.dev/next-generation"
	NextCauseAnnotation            = "keyward.dev/next-cause"
	CauseAnnotation                = "keyward.dev/cause"
	HandledTriggerAnnotation       = "keyward.dev/handled-trigger"
	HandledRotateRequestAnnotation = "keyward.dev/handled-rotate-annotation"
)

// deliveredKey is one key in the delivery Secret with its serial.
type deliveredKey struct {
	key      keys.Key
	serial   string
	issuedAt time.Time
	// generation counts the secrets this key has had: 1 for the first.
	generation int64
	// cause says why the secret was made by a rotation, for the Event of
	// whichever process completes it.
	cause string
}

// delivered is the delivery Secret, parsed.
type delivered struct {
	current deliveredKey
	// previous verifies until previousValidUntil (grace period).
	previous           *deliveredKey
	previousValidUntil time.Time
	// next is stored but not yet the key consumers read. The grace period
	// of the current key starts only when next replaces it: a crash in
	// between must not run the consumers' key out of time.
	next *deliveredKey
	// handledTrigger and handledAnnotation are the on-demand rotation
	// requests already acted on.
	handledTrigger, handledAnnotation string
	resourceVersion                   string
}

// parseDelivered reads an owned delivery Secret. A damaged current key makes
// it unusable (false); a damaged previous or next key is dropped, which the
// next write then repairs.
func parseDelivered(sec *corev1.Secret, keyID string) (*delivered, bool) {
	cur, ok := parseDeliveredKey(sec, DeliveryKeyField, SerialAnnotation, IssuedAtAnnotation, GenerationAnnotation, keyID)
	if !ok {
		return nil, false
	}
	cur.cause = sec.Annotations[CauseAnnotation]
	d := &delivered{
		current:           cur,
		handledTrigger:    sec.Annotations[HandledTriggerAnnotation],
		handledAnnotation: sec.Annotations[HandledRotateRequestAnnotation],
		resourceVersion:   sec.ResourceVersion,
	}
	if prev, ok := parseDeliveredKey(sec, DeliveryPreviousKeyField, PreviousSerialAnnotation, PreviousIssuedAtAnnotation, "", cur.key.ID()); ok {
		if until, err := time.Parse(time.RFC3339, sec.Annotations[PreviousValidUntilAnnotation]); err == nil {
			d.previous, d.previousValidUntil = &prev, until.UTC()
		}
	}
	if next, ok := parseDeliveredKey(sec, DeliveryNextKeyField, NextSerialAnnotation, NextIssuedAtAnnotation, NextGenerationAnnotation, cur.key.ID()); ok {
		next.cause = sec.Annotations[NextCauseAnnotation]
		d.next = &next
	}
	return d, true
}

func parseDeliveredKey(sec *corev1.Secret, field, serialAnn, issuedAnn, generationAnn, keyID string) (deliveredKey, bool) {
	raw, ok := sec.Data[field]
	if !ok {
		return deliveredKey{}, false
	}
	k, err := keys.Parse(string(raw))
	if err != nil || (keyID != "" && k.ID() != keyID) {
		return deliveredKey{}, false
	}
	serial := sec.Annotations[serialAnn]
	issued, err := time.Parse(time.RFC3339, sec.Annotations[issuedAnn])
	if serial == "" || err != nil {
		return deliveredKey{}, false
	}
	generation, err := strconv.ParseInt(sec.Annotations[generationAnn], 10, 64)
	if err != nil || generation < 1 {
		generation = 1
	}
	return deliveredKey{key: k, serial: serial, issuedAt: issued.UTC(), generation: generation}, true
}

// applyConfig renders d as the whole of what keyward owns in the Secret:
// server-side apply removes any field of ours that is left out, such as a
// previous key whose grace period is over.
func (d *delivered) applyConfig(key *keywardv1.APIKey) *corev1ac.SecretApplyConfiguration {
	data := map[string][]byte{
		DeliveryKeyField:   []byte(d.current.key.Plaintext()),
		DeliveryKeyIDField: []byte(d.current.key.ID()),
	}
	ann := map[string]string{
		SerialAnnotation:               d.current.serial,
		IssuedAtAnnotation:             d.current.issuedAt.Format(time.RFC3339),
		GenerationAnnotation:           strconv.FormatInt(d.current.generation, 10),
		CauseAnnotation:                d.current.cause,
		HandledTriggerAnnotation:       d.handledTrigger,
		HandledRotateRequestAnnotation: d.handledAnnotation,
	}
	if d.previous != nil {
		data[DeliveryPreviousKeyField] = []byte(d.previous.key.Plaintext())
		ann[PreviousSerialAnnotation] = d.previous.serial
		ann[PreviousIssuedAtAnnotation] = d.previous.issuedAt.Format(time.RFC3339)
		ann[PreviousValidUntilAnnotation] = d.previousValidUntil.Format(time.RFC3339)
	}
	if d.next != nil {
		data[DeliveryNextKeyField] = []byte(d.next.key.Plaintext())
		ann[NextSerialAnnotation] = d.next.serial
		ann[NextIssuedAtAnnotation] = d.next.issuedAt.Format(time.RFC3339)
		ann[NextGenerationAnnotation] = strconv.FormatInt(d.next.generation, 10)
		ann[NextCauseAnnotation] = d.next.cause
	}
	apply := corev1ac.Secret(key.DeliverySecretName(), key.Namespace).
		WithType(DeliverySecretType).
		WithLabels(map[string]string{ManagedByLabel: ManagedByValue}).
		WithAnnotations(ann).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(keywardv1.GroupVersion.String()).
			WithKind("APIKey").
			WithName(key.Name).
			WithUID(key.UID).
			WithController(true).
			WithBlockOwnerDeletion(true)).
		WithData(data)
	if d.resourceVersion != "" {
		// Every write after the first is conditional on what we read: a
		// concurrent change fails the write instead of being overwritten.
		apply.WithResourceVersion(d.resourceVersion)
	}
	return apply
}

// copy returns a shallow copy safe to change before writing.
func (d *delivered) copy() *delivered {
	c := *d
	return &c
}
