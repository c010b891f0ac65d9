package webhook

import (
	"fmt"
	"testing"

	"k8s.io/utils/ptr"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// A hash as another system wrote it: 29000 iterations (passlib's default).
const (
	importKeyID = "importedkey2345a"
	importHash  = "$pbkdf2-sha256$i=29000$yMnKy8zNzs/Q0dLT1NXW1w$PMpEOhd2OuQsd33bYhN+3V9B7oaurW01dY1jehRSJ+I"
)

func byHash(keyID, hash string, more ...func(*keywardv1.APIKey)) func(*keywardv1.APIKey) {
	return func(k *keywardv1.APIKey) {
		k.Spec.Import = &keywardv1.KeyImport{KeyID: keyID, Hash: hash}
		for _, m := range more {
			m(k)
		}
	}
}

func bySecret(more ...func(*keywardv1.APIKey)) func(*keywardv1.APIKey) {
	return func(k *keywardv1.APIKey) {
		k.Spec.Import = &keywardv1.KeyImport{SecretRef: &keywardv1.ImportSecretReference{Name: "legacy"}}
		for _, m := range more {
			m(k)
		}
	}
}

// An import is a key like any other: the policy refuses it with the same
// messages; the hash's own form is refused before the manager sees it.
func TestAdmissionRefusesImportsThatBreakPolicyOrCarryAWrongHash(t *testing.T) {
	ns, p := policyNamespace(t)
	salt16 := "yMnKy8zNzs/Q0dLT1NXW1w"
	digest := "PMpEOhd2OuQsd33bYhN+3V9B7oaurW01dY1jehRSJ+I"
	outside := func(k *keywardv1.APIKey) { k.Spec.Scopes = []keywardv1.Scope{"acme/hr/users:read"} }
	tooLong := func(k *keywardv1.APIKey) { k.Spec.Expiration.AfterDays = ptr.To[int32](365) }
	scopeMsg := fmt.Sprintf(`spec.scopes[0]: Forbidden: scope "acme/hr/users:read" is not allowed by KeyPolicy %q (allowed: acme/payments/*:admin)`, p)
	lifetimeMsg := fmt.Sprintf(`spec.expiration: Forbidden: a lifetime of 365 days is longer than the 90 days KeyPolicy %q allows`, p)
	expectRefused(t, ns, map[string]refusal{
		"a hash import with a scope outside the policy":      {byHash(importKeyID, importHash, outside), []string{scopeMsg}},
		"a plaintext import with a scope outside the policy": {bySecret(outside), []string{scopeMsg}},
		"a hash import living longer than the policy allows": {byHash(importKeyID, importHash, tooLong), []string{lifetimeMsg}},
		"a plaintext import living too long":                 {bySecret(tooLong), []string{lifetimeMsg}},
		"a bcrypt hash": {byHash(importKeyID, "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"),
			[]string{"spec.import.hash: Invalid value: \"(not shown)\": spec.import.hash: the hash is bcrypt; only PBKDF2-HMAC-SHA256 in PHC form"}},
		"an argon2 hash": {byHash(importKeyID, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g"), []string{"the hash is argon2id"}},
		"a sha256 hex digest": {byHash(importKeyID, "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"),
			[]string{"a bare SHA-256 hex digest (unsalted)"}},
		"one iteration":         {byHash(importKeyID, "$pbkdf2-sha256$i=1$"+salt16+"$"+digest), []string{"the hash has 1 PBKDF2 iterations; an imported hash needs between 10000 and 1000000"}},
		"a 4-byte salt":         {byHash(importKeyID, "$pbkdf2-sha256$i=29000$AAECAw$"+digest), []string{"the hash's salt is 4 bytes; an imported hash needs at least 16"}},
		"a key ID off-alphabet": {byHash("IMPORTEDKEY2345A", importHash), []string{"spec.import.keyID"}},
		"a policy breach and a wrong hash at once": {byHash(importKeyID, "$2b$12$x", outside),
			[]string{scopeMsg, "the hash is bcrypt"}},
	})
	expectAdmitted(t, ns, map[string]func(*keywardv1.APIKey){
		"an in-policy hash import":       byHash(importKeyID, importHash),
		"a passlib hash":                 byHash(importKeyID, "$pbkdf2-sha256$29000$yMnKy8zNzs/Q0dLT1NXW1w$PMpEOhd2OuQsd33bYhN.3V9B7oaurW01dY1jehRSJ.I"),
		"an in-policy plaintext import":  bySecret(),
		"a plaintext import with a role": bySecret(func(k *keywardv1.APIKey) { k.Spec.Scopes, k.Spec.Role = nil, "analyst" }),
	})
}
