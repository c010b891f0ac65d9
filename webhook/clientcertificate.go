package webhook

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/keyspec"
)

var clientCertificatePath = field.NewPath("spec", "clientCertificate")

// certbindField is how certbind names the field a problem concerns, at the
// start of its message.
var certbindField = regexp.MustCompile(`^([a-zA-Z]+): `)

// clientCertificateErrors refuses a binding the manager could not write
// into a record: the schema's rules are the first line, certbind's are
// the ones the record, and so the verifier, holds the key to (a URI that
// does not parse, a DNS name that is not one).
func clientCertificateErrors(b *certbind.Binding) field.ErrorList {
	if b == nil {
		return nil
	}
	err := b.Validate()
	if err == nil {
		return nil
	}
	var errs field.ErrorList
	for _, e := range unjoin(err) {
		path, msg := clientCertificatePath, e.Error()
		if m := certbindField.FindStringSubmatch(msg); m != nil {
			path, msg = path.Child(m[1]), strings.TrimPrefix(msg, m[0])
		}
		errs = append(errs, field.Invalid(path, field.OmitValueType{}, msg))
	}
	return errs
}

// sharedCertificateWarnings tells the author of a key bound by certificate
// alone when another such key of its namespace binds the same thumbprint
// or name under an authority that may have issued the same certificate: a
// certificate that matches more than one of them authenticates none, so
// one key can neither take another's requests nor be mistaken for it.
// Keys of other namespaces are not looked at: a warning about them would
// let a tenant probe, with a server-side dry run that stores nothing,
// what other tenants bind; the verifier's rule holds without a warning.
// A list from the cache is enough for a warning.
func (v *APIKeyValidator) sharedCertificateWarnings(ctx context.Context, key *keywardv1.APIKey) admission.Warnings {
	b := keyspec.ClientCertificate(key)
	if v.Cache == nil || b == nil || b.RequiresKey() {
		return nil
	}
	keys := &keywardv1.APIKeyList{}
	if err := v.Cache.List(ctx, keys, client.InNamespace(key.Namespace)); err != nil {
		return nil
	}
	for i := range keys.Items {
		other := &keys.Items[i]
		if (key.UID != "" && other.UID == key.UID) || other.Name == key.Name || other.Spec.Revoked {
			continue
		}
		ob := keyspec.ClientCertificate(other)
		if ob == nil || ob.RequiresKey() || !overlap(*b, *ob) {
			continue
		}
		return admission.Warnings{fmt.Sprintf("spec.clientCertificate binds the same certificate as APIKey %q, also with credential Certificate: "+
			"a certificate that matches more than one key authenticates none of them; bind a name only your authority issues, or use credential CertificateAndKey", other.Name)}
	}
	return nil
}

// overlap reports whether one certificate can match both bindings: the
// same thumbprint or name, under authorities that can both have issued it
// (a binding without one accepts any issuer).
func overlap(a, b certbind.Binding) bool {
	return a.LookupKey() == b.LookupKey() && (a.Authority == b.Authority || a.Authority == "" || b.Authority == "")
}
