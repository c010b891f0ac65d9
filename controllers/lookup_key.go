package controllers

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

// LookupKeySecretType marks the lookup key's Secret.
const LookupKeySecretType corev1.SecretType = "keyward.dev/lookup-key"

// lookupKey loads the lookup key of foreign keys (docs/import.md) once,
// creating it on the first foreign import. It lives in the verifier's
// namespace, the one namespace both the manager and the verifier read and
// no tenant can: the verifier needs it to find a foreign key's record.
// Losing it makes every foreign key unfindable until it is restored: a
// new one made for a later import does not find the older records.
type lookupKey struct {
	mu sync.Mutex
	l  *keys.LookupKey
}

func (lk *lookupKey) get(ctx context.Context, c client.Client, live client.Reader, namespace string) (*keys.LookupKey, error) {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if lk.l != nil {
		return lk.l, nil
	}
	name := client.ObjectKey{Namespace: namespace, Name: record.LookupKeySecretName}
	sec, err := getOrCreateSecret(ctx, c, live, name, createLookupKey)
	if err != nil {
		return nil, fmt.Errorf("reading the lookup key %s: %w", name, err)
	}
	l, err := keys.NewLookupKey(sec.Data[record.LookupKeyDataKey])
	clear(sec.Data[record.LookupKeyDataKey])
	if err != nil {
		return nil, fmt.Errorf("the lookup key %s is damaged: %w", name, err)
	}
	lk.l = l
	return l, nil
}

func createLookupKey(ctx context.Context, c client.Client, name client.ObjectKey) (*corev1.Secret, error) {
	secret := make([]byte, keys.LookupKeyLength)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, Name: name.Name,
			Labels: map[string]string{ManagedByLabel: ManagedByValue, record.RecordLabel: record.LookupKeyLabelValue}},
		Type: LookupKeySecretType,
		Data: map[string][]byte{record.LookupKeyDataKey: secret},
	}
	return sec, c.Create(ctx, sec, client.FieldOwner(FieldOwner))
}

func (r *APIKeyReconciler) lookupKey(ctx context.Context) (*keys.LookupKey, error) {
	return r.lookups.get(ctx, r.Client, r.APIReader, r.VerifierNamespace)
}
