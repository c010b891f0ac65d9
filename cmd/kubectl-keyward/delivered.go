package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
)

// readDeliveredKey is the plaintext keyward delivered for key, as read from
// the Secret its status names. Anyone who may edit the namespace can put a
// Secret of that name there, or replace the APIKey by another of the same
// name; so the plaintext is given only from a Secret key controls (by UID),
// and only when it is a well-formed key whose ID is key's status.keyID.
// Errors never quote the Secret's contents.
func readDeliveredKey(ctx context.Context, c client.Client, key *keywardv1.APIKey) (keys.Key, error) {
	secret, err := deliverySecret(ctx, c, key)
	if err != nil {
		return keys.Key{}, err
	}
	return deliveredKeyIn(secret, key)
}

// deliverySecret is the Secret key's status names, refused unless key
// controls it (by UID): only then is it keyward's delivery of this key.
func deliverySecret(ctx context.Context, c client.Client, key *keywardv1.APIKey) (*corev1.Secret, error) {
	name := key.Status.SecretName
	if name == "" {
		return nil, fmt.Errorf("apikey/%s has no delivery Secret yet", key.Name)
	}
	var secret corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: name}, &secret); err != nil {
		return nil, fmt.Errorf("apikey/%s: its Secret %q cannot be read: %w", key.Name, name, err)
	}
	if !metav1.IsControlledBy(&secret, key) || len(secret.OwnerReferences) != 1 {
		return nil, fmt.Errorf("apikey/%s: Secret %q is not controlled by this APIKey (UID %s): it is not keyward's delivery of this key, so nothing is printed from it", key.Name, name, key.UID)
	}
	return &secret, nil
}

// deliveredKeyIn is the plaintext in a delivery Secret of key, when it is a
// well-formed key whose ID is key's status.keyID.
func deliveredKeyIn(secret *corev1.Secret, key *keywardv1.APIKey) (keys.Key, error) {
	name := secret.Name
	plaintext := secret.Data[deliveryKeyField]
	if len(plaintext) == 0 {
		return keys.Key{}, fmt.Errorf("apikey/%s: its Secret %q holds no key", key.Name, name)
	}
	parsed, err := keys.Parse(string(plaintext))
	if err != nil {
		// An imported key of another format is delivered as it is.
		if foreign, ferr := keys.ParseFor(key.Status.KeyID, string(plaintext)); ferr == nil {
			return foreign, nil
		}
		return keys.Key{}, fmt.Errorf("apikey/%s: Secret %q does not hold a keyward key (%v), so nothing is printed from it", key.Name, name, err)
	}
	if parsed.ID() != key.Status.KeyID {
		return keys.Key{}, fmt.Errorf("apikey/%s: Secret %q holds the key of key ID %s, not this key's %s, so nothing is printed from it", key.Name, name, parsed.ID(), key.Status.KeyID)
	}
	return parsed, nil
}
