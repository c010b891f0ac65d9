package webhook

import (
	"context"
	"fmt"
	"slices"

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
}

var _ admission.Validator[*keywardv1.SigningKey] = &SigningKeyValidator{}

// ValidateCreate checks a new SigningKey.
func (v *SigningKeyValidator) ValidateCreate(ctx context.Context, sk *keywardv1.SigningKey) (admission.Warnings, error) {
	return v.validate(ctx, sk)
}

// ValidateUpdate checks a changed SigningKey. Deletion in progress is never
// refused.
func (v *SigningKeyValidator) ValidateUpdate(ctx context.Context, _, sk *keywardv1.SigningKey) (admission.Warnings, error) {
	if !sk.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	return v.validate(ctx, sk)
}

// ValidateDelete is not called: deletions are not intercepted.
func (v *SigningKeyValidator) ValidateDelete(context.Context, *keywardv1.SigningKey) (admission.Warnings, error) {
	return nil, nil
}

func (v *SigningKeyValidator) validate(ctx context.Context, sk *keywardv1.SigningKey) (admission.Warnings, error) {
	c := sk.Spec.Client
	if sk.Spec.Mode != keywardv1.SigningKeyModeClient || c == nil {
		return nil, nil
	}
	path := field.NewPath("spec", "client")
	var errs field.ErrorList
	var warnings admission.Warnings
	if _, _, _, err := signingrecord.ParsePublicKey(c.PublicKey); err != nil {
		// Never echo the value: a private key pasted by mistake must not
		// reach the client's terminal or the API server's audit log.
		errs = append(errs, &field.Error{Type: field.ErrorTypeInvalid, Field: path.Child("publicKey").String(),
			BadValue: field.OmitValueType{}, Detail: err.Error()})
	}
	ak := &keywardv1.APIKey{}
	err := v.Reader.Get(ctx, client.ObjectKey{Namespace: sk.Namespace, Name: c.APIKeyName}, ak)
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
