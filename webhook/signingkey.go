package webhook

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/signingrecord"
)

// +kubebuilder:webhook:path=/validate-keyward-dev-v1alpha1-signingkey,mutating=false,failurePolicy=fail,sideEffects=None,groups=keyward.dev,resources=signingkeys,verbs=create;update,versions=v1alpha1,name=vsigningkey.keyward.dev,admissionReviewVersions=v1

// SigningKeyValidator admits a client SigningKey only with a public key the
// verifier can use, linked to an APIKey of the same owner that may
// authenticate with client assertions. What the schema and CEL check is not
// repeated here.
type SigningKeyValidator struct {
	Reader client.Reader
	// VerifierNamespace holds the signing-key Secrets, one per published
	// kid, each bound to its SigningKey's UID.
	VerifierNamespace string
}

var _ admission.Validator[*keywardv1.SigningKey] = &SigningKeyValidator{}

// ValidateCreate checks a new SigningKey.
func (v *SigningKeyValidator) ValidateCreate(ctx context.Context, sk *keywardv1.SigningKey) (admission.Warnings, error) {
	return v.validate(ctx, sk, true)
}

// ValidateUpdate checks a changed SigningKey. Deletion in progress is never
// refused.
func (v *SigningKeyValidator) ValidateUpdate(ctx context.Context, _, sk *keywardv1.SigningKey) (admission.Warnings, error) {
	if !sk.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	return v.validate(ctx, sk, false)
}

// ValidateDelete is not called: deletions are not intercepted.
func (v *SigningKeyValidator) ValidateDelete(context.Context, *keywardv1.SigningKey) (admission.Warnings, error) {
	return nil, nil
}

// validate checks a client key; created says whether the object is new,
// the only time its kid is looked up (the public key cannot change).
func (v *SigningKeyValidator) validate(ctx context.Context, sk *keywardv1.SigningKey, created bool) (admission.Warnings, error) {
	c := sk.Spec.Client
	if sk.Spec.Mode != keywardv1.SigningKeyModeClient || c == nil {
		return nil, nil
	}
	path := field.NewPath("spec", "client")
	var errs field.ErrorList
	var warnings admission.Warnings
	kid, _, _, err := signingrecord.ParsePublicKey(c.PublicKey)
	switch {
	case err != nil:
		// Never echo the value: a private key pasted by mistake must not
		// reach the client's terminal or the API server's audit log.
		errs = append(errs, &field.Error{Type: field.ErrorTypeInvalid, Field: path.Child("publicKey").String(),
			BadValue: field.OmitValueType{}, Detail: err.Error()})
	case created:
		taken, err := v.kidTaken(ctx, kid, sk)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		if taken {
			errs = append(errs, field.Forbidden(path.Child("publicKey"), fmt.Sprintf(
				"kid %s (the RFC 7638 thumbprint of this public key) is already published by another SigningKey; "+
					"a kid belongs to one SigningKey cluster-wide: enrol a key pair of your own", kid)))
		}
	}
	ak := &keywardv1.APIKey{}
	err = v.Reader.Get(ctx, client.ObjectKey{Namespace: sk.Namespace, Name: c.APIKeyName}, ak)
	switch {
	case apierrors.IsNotFound(err):
		// Applied together from Git, the APIKey may arrive a moment later.
		warnings = append(warnings, fmt.Sprintf("APIKey %s does not exist yet; the key is published once it does", c.APIKeyName))
	case err != nil:
		return nil, apierrors.NewInternalError(err)
	default:
		if ak.Spec.Owner != sk.Spec.Owner {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "owner"),
				fmt.Sprintf("must be %q, the owner of APIKey %s: a user enrolls keys only for their own API keys", ak.Spec.Owner, c.APIKeyName)))
		}
		if !slices.Contains(ak.Spec.AuthMethods, keywardv1.AuthMethodClientAssertion) {
			errs = append(errs, field.Forbidden(path.Child("apiKeyName"),
				fmt.Sprintf("APIKey %s does not list ClientAssertion in spec.authMethods, so it cannot authenticate with an enrolled key", c.APIKeyName)))
		}
	}
	if len(errs) > 0 {
		return warnings, apierrors.NewInvalid(keywardv1.GroupVersion.WithKind("SigningKey").GroupKind(), sk.Name, errs)
	}
	return warnings, nil
}

// kidTaken reports whether another SigningKey, issuer or client, in any
// namespace, publishes kid: its Secret in the verifier namespace exists
// and is bound to another UID. Only keyward writes there, so neither the
// Secret nor its label can be a tenant's forgery. A kid nobody has
// published yet passes; the manager then refuses to write over a Secret
// that appeared in between.
func (v *SigningKeyValidator) kidTaken(ctx context.Context, kid string, sk *keywardv1.SigningKey) (bool, error) {
	sec := &corev1.Secret{}
	err := v.Reader.Get(ctx, client.ObjectKey{Namespace: v.VerifierNamespace, Name: signingrecord.SecretName(kid)}, sec)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	}
	return sec.Labels[signingrecord.SigningKeyUIDLabel] != string(sk.UID) || sk.UID == "", nil
}
