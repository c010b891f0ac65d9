package keyspec

import (
	"fmt"
	"strings"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
)

// ImportedHash is what spec.import.hash means: the imported hash in the
// form the record stores, and the key ID it is published under. The
// webhook refuses what this refuses and the manager checks again with it,
// so the two can never disagree.
func ImportedHash(imp *keywardv1.KeyImport) (keyID, phc string, err error) {
	if imp == nil || imp.Hash == "" {
		return "", "", fmt.Errorf("spec.import.hash is not set")
	}
	if err := keys.ValidateID(imp.KeyID); err != nil {
		return "", "", fmt.Errorf("spec.import.keyID: %w: a hash can be imported only for a key in keyward's format, whose key ID the verifier reads from the presented key", err)
	}
	if phc, err = keys.ParseImportHash(imp.Hash); err != nil {
		return "", "", fmt.Errorf("spec.import.hash: %w", err)
	}
	return imp.KeyID, phc, nil
}

// ImportedPlaintext is what the plaintext of an import Secret means: a key
// in keyward's format, whose checksum holds, keeping its key ID; or a key
// in another system's format (keys.ValidateForeign), which keeps its form
// and gets a fresh keyward key ID. Anything starting with keyward's prefix
// is keyward's: a mistyped keyward key is refused, never taken as foreign.
// Errors never contain the plaintext.
func ImportedPlaintext(plaintext []byte) (keys.Key, error) {
	k, err := keys.Parse(string(plaintext))
	if err == nil {
		return k, nil
	}
	if strings.HasPrefix(string(plaintext), keys.Prefix) {
		return keys.Key{}, fmt.Errorf("the imported plaintext starts like a key in keyward's format but is not one (%w)", err)
	}
	if ferr := keys.ValidateForeign(string(plaintext)); ferr != nil {
		return keys.Key{}, fmt.Errorf("the imported plaintext is neither a key in keyward's format nor a key of another format keyward can import: %w", ferr)
	}
	id, err := keys.NewID()
	if err != nil {
		return keys.Key{}, err
	}
	return keys.Foreign(id, string(plaintext))
}
