package controllers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyward-dev/keyward/internal/keys"
)

// FingerprintKeySecretName is the Secret, in the manager's namespace, that
// holds the key of the delivered secrets' fingerprints. Only the manager
// reads it: not the verifier, whose namespace is another, and not the
// keys' namespaces. Losing it costs one PBKDF2 verification per key, after
// which the manager fingerprints the delivered secrets anew.
const FingerprintKeySecretName = "keyward-fingerprint-key"

// FingerprintKeySecretType marks the fingerprint key's Secret.
const FingerprintKeySecretType corev1.SecretType = "keyward.dev/fingerprint-key"

const (
	fingerprintKeyField   = "key"
	fingerprintKeyIDField = "id"
)

// fingerprintKey loads the fingerprint key once, creating it on first use.
// Every replica of the manager reads the same Secret, so that whichever is
// the leader recognises what the others delivered.
type fingerprintKey struct {
	mu sync.Mutex
	f  *keys.Fingerprinter
}

func (fk *fingerprintKey) get(ctx context.Context, c client.Client, live client.Reader, namespace string) (*keys.Fingerprinter, error) {
	fk.mu.Lock()
	defer fk.mu.Unlock()
	if fk.f != nil {
		return fk.f, nil
	}
	if namespace == "" {
		return nil, fmt.Errorf("the manager's namespace is not set: the fingerprint key lives there")
	}
	name := client.ObjectKey{Namespace: namespace, Name: FingerprintKeySecretName}
	sec, err := getOrCreateSecret(ctx, c, live, name, createFingerprintKey)
	if err != nil {
		return nil, fmt.Errorf("reading the fingerprint key %s: %w", name, err)
	}
	f, err := keys.NewFingerprinter(string(sec.Data[fingerprintKeyIDField]), sec.Data[fingerprintKeyField])
	// The Fingerprinter holds a copy; this one, read past the cache or
	// made here, is overwritten.
	clear(sec.Data[fingerprintKeyField])
	if err != nil {
		return nil, fmt.Errorf("the fingerprint key %s is damaged (delete it to have a new one made): %w", name, err)
	}
	fk.f = f
	return f, nil
}

// getOrCreateSecret reads a key Secret past the cache, creating it when
// it does not exist; a replica that loses the race to create it reads the
// winner's.
func getOrCreateSecret(ctx context.Context, c client.Client, live client.Reader, name client.ObjectKey,
	create func(context.Context, client.Client, client.ObjectKey) (*corev1.Secret, error)) (*corev1.Secret, error) {
	sec := &corev1.Secret{}
	err := live.Get(ctx, name, sec)
	if apierrors.IsNotFound(err) {
		sec, err = create(ctx, c, name)
		if apierrors.IsAlreadyExists(err) {
			sec = &corev1.Secret{}
			err = live.Get(ctx, name, sec)
		}
	}
	return sec, err
}

func createFingerprintKey(ctx context.Context, c client.Client, name client.ObjectKey) (*corev1.Secret, error) {
	secret := make([]byte, keys.FingerprintKeyLength)
	id := make([]byte, 4)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, Name: name.Name,
			Labels: map[string]string{ManagedByLabel: ManagedByValue}},
		Type: FingerprintKeySecretType,
		Data: map[string][]byte{fingerprintKeyField: secret, fingerprintKeyIDField: []byte(hex.EncodeToString(id))},
	}
	return sec, c.Create(ctx, sec, client.FieldOwner(FieldOwner))
}
