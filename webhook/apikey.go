package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/audit"
	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/keyspec"
)

// The match condition lets revocations through without calling the
// webhook at all, so that an outage of it never keeps a key from being
// revoked (a revoked key can do nothing, whatever else the update says);
// the recording webhook (audit.go) writes who revoked it.
//
// +kubebuilder:webhook:path=/validate-keyward-dev-v1alpha1-apikey,mutating=false,failurePolicy=fail,sideEffects=NoneOnDryRun,groups=keyward.dev,resources=apikeys,verbs=create;update,versions=v1alpha1,name=vapikey.keyward.dev,admissionReviewVersions=v1,patch=`{"matchConditions":[{"name":"not-a-revocation","expression":"!(request.operation == 'UPDATE' && has(object.spec.revoked) && object.spec.revoked)"}]}`

// APIKeyValidator admits an APIKey only if every KeyPolicy that selects its
// namespace allows it and, when it delegates, its parent does.
type APIKeyValidator struct {
	Reader client.Reader
	// Cache, when set, lets a key bound to a certificate warn about
	// another key bound to the same one.
	Cache        client.Reader
	DefaultAllow bool
	Audit        audit.Sink
	// Clock is the present for keys not created yet, and the time of
	// their audit lines.
	Clock clock.PassiveClock
}

var _ admission.Validator[*keywardv1.APIKey] = &APIKeyValidator{}

// ValidateCreate checks a new key.
func (v *APIKeyValidator) ValidateCreate(ctx context.Context, key *keywardv1.APIKey) (admission.Warnings, error) {
	return v.validate(ctx, key, "create")
}

// requester is the user whose creation of a key is being admitted: the
// one moment a KeyPolicy's owners.fromRequester can be checked, since
// spec.owner cannot change afterwards. Without an admission request (a
// caller outside the API server) there is nobody to bind to, which a
// binding refuses.
func requester(ctx context.Context) *string {
	name := ""
	if req, err := admission.RequestFromContext(ctx); err == nil {
		name = req.UserInfo.Username
	}
	return &name
}

// ValidateUpdate checks a changed key. Changes that only take something
// away (revoking, suspending, deleting) are never refused: a policy must
// not stand in the way of shutting a key down.
func (v *APIKeyValidator) ValidateUpdate(ctx context.Context, old, key *keywardv1.APIKey) (admission.Warnings, error) {
	if !key.DeletionTimestamp.IsZero() || (key.Spec.Revoked && !old.Spec.Revoked) {
		v.record(ctx)
		return nil, nil
	}
	return v.validate(ctx, key, "update")
}

// ValidateDelete is not called: this webhook does not intercept deletions,
// so that an outage of it can never keep a key from being revoked. The
// recording webhook (Recorder), which fails open, writes who deleted it.
func (v *APIKeyValidator) ValidateDelete(context.Context, *keywardv1.APIKey) (admission.Warnings, error) {
	return nil, nil
}

func (v *APIKeyValidator) validate(ctx context.Context, key *keywardv1.APIKey, op string) (admission.Warnings, error) {
	now := v.Clock.Now()
	rules, err := keyspec.PoliciesFor(ctx, v.Reader, key.Namespace)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	pk := keyspec.PolicyKey(key, now)
	if op == "create" {
		pk.Requester = requester(ctx)
	}
	scopes, violations := policy.Evaluate(pk, rules, v.DefaultAllow)

	var errs field.ErrorList
	for _, vi := range violations {
		errs = append(errs, toFieldError(vi))
	}
	errs = append(errs, accessConditionErrors(pk.Conditions)...)
	errs = append(errs, rateLimitErrors(pk.RateLimit)...)
	errs = append(errs, clientCertificateErrors(pk.ClientCertificate)...)
	if key.Spec.Parent != nil {
		errs = append(errs, v.checkParent(ctx, key, pk, scopes, now)...)
	}
	errs = append(errs, importErrors(key.Spec.Import)...)
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(keywardv1.GroupVersion.WithKind("APIKey").GroupKind(), key.Name, errs)
	}
	v.record(ctx)
	return append(admission.Warnings(policy.Warnings(pk, scopes)), v.sharedCertificateWarnings(ctx, key)...), nil
}

// importErrors refuses an imported hash the manager would refuse; a
// plaintext's Secret is the manager's to read, never the webhook's.
func importErrors(imp *keywardv1.KeyImport) field.ErrorList {
	if imp == nil || imp.Hash == "" {
		return nil
	}
	if _, _, err := keyspec.ImportedHash(imp); err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "import", "hash"), "(not shown)", err.Error())}
	}
	return nil
}

// accessConditionErrors refuses conditions the verifier could not enforce. The
// schema checks their form; whether a time zone exists only the conditions
// package can tell, and the verifier refuses a record it cannot compile.
func accessConditionErrors(c access.Conditions) field.ErrorList {
	_, err := access.Compile(c)
	if err == nil {
		return nil
	}
	var problems access.Problems
	if !errors.As(err, &problems) {
		return field.ErrorList{field.InternalError(field.NewPath("spec", "conditions"), err)}
	}
	errs := make(field.ErrorList, 0, len(problems))
	for _, p := range problems {
		errs = append(errs, field.Invalid(parsePath("spec.conditions."+p.Field), field.OmitValueType{}, p.Message))
	}
	return errs
}

// rateLimitErrors refuses limits the verifier could not enforce: what the
// schema cannot see, such as an unknown time zone or a cost no limit can
// ever hold.
func rateLimitErrors(rl record.RateLimit) field.ErrorList {
	_, err := rl.Compile()
	if err == nil {
		return nil
	}
	var errs field.ErrorList
	for _, e := range unjoin(err) {
		path, msg, ok := strings.Cut(e.Error(), ": ")
		if !ok {
			path, msg = "", e.Error()
		}
		errs = append(errs, field.Invalid(parsePath("spec.rateLimit."+path), field.OmitValueType{}, msg))
	}
	return errs
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// checkParent refuses a missing, revoked or broader parent, cycles and
// chains deeper than policy.MaxDelegationDepth.
func (v *APIKeyValidator) checkParent(ctx context.Context, key *keywardv1.APIKey, pk policy.Key, scopes []scopeT, now time.Time) field.ErrorList {
	path := field.NewPath("spec", "parent", "name")
	name := key.Spec.Parent.Name
	a, err := keyspec.Ancestors(ctx, v.Reader, key)
	switch {
	case err != nil:
		return field.ErrorList{field.InternalError(path, err)}
	case a.Cycle:
		return field.ErrorList{field.Invalid(path, name, "the chain of parent keys leads back to this key")}
	case a.TooDeep:
		return field.ErrorList{field.Invalid(path, name, fmt.Sprintf("the chain of parent keys is deeper than %d", policy.MaxDelegationDepth))}
	case a.Missing != "":
		return field.ErrorList{field.NotFound(path, fmt.Sprintf("APIKey %q (in namespace %s)", a.Missing, key.Namespace))}
	case a.Revoked != "":
		return field.ErrorList{field.Invalid(path, name, fmt.Sprintf("parent key %q is revoked", a.Revoked))}
	}
	parent, err := keyspec.PolicyParent(a.Parent, now)
	if err != nil {
		return field.ErrorList{field.InternalError(path, err)}
	}
	var errs field.ErrorList
	for _, vi := range policy.Delegation(pk, scopes, parent) {
		errs = append(errs, toFieldError(vi))
	}
	return errs
}

// record writes who changed the key to the audit trail (admissionLine),
// on real requests only: a dry run leaves no trace.
func (v *APIKeyValidator) record(ctx context.Context) {
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return
	}
	if e, ok := admissionLine(req, v.Clock.Now()); ok {
		v.Audit.Record(e)
	}
}
